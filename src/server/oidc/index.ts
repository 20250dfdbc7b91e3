export {
  type IssuerConfig,
  type IssuerType,
  type OidcConfig,
  DEFAULT_CLIENT_ID,
  challengeClaimOf,
  findIssuer,
  loadOidcConfig,
  metaIssuerMatches,
  parseOidcConfig,
} from './config.js';
export { OidcError, type OidcRefusalReason } from './errors.js';
export { type Principal, type SanType, type SigstoreExtension, SIGSTORE_OID, derUtf8String, principalFromClaims } from './principal.js';
export { OidcVerifier, type OidcVerifierOptions } from './verifier.js';
export { type DevIssuer, type DevIssuerOptions, type MintOptions, type MintClaimsOptions, type DevTypedIssuer, DEV_ISSUER_PATH, DEV_TYPED_ISSUERS, DEV_SPIFFE_TRUST_DOMAIN, createDevIssuer } from './dev-issuer.js';
