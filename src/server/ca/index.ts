export {
  type CaOptions,
  type CertificateAuthority,
  type IssueRequest,
  type IssuedCertificate,
  type TokenVerifier,
  type TrustedRootCertificateAuthority,
  LEAF_VALIDITY_MS,
  createCa,
} from './ca.js';
export { caConfiguration, caErrorResponse, caRoutes } from './api.js';
