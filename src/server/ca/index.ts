export {
  type CaOptions,
  type CaCore,
  type IssueRequest,
  type IssuedCertificate,
  type TokenVerifier,
  type TrustedRootCertificateAuthority,
  LEAF_VALIDITY_MS,
} from './ca.js';
export { type CertificateAuthority, caConfiguration, caErrorResponse, caRoutes, createCa } from './api.js';
