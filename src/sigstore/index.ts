/** The sigstore layer: DSSE, in-toto statements, bundles and key-based verification. */
export { type HashAlg, DIGEST_LENGTH, HASH_ALG_NAME, hashAlgFromName, decodeBase64Strict } from './encoding.js';
export {
  type DsseEnvelope,
  type DsseSignature,
  IN_TOTO_PAYLOAD_TYPE,
  pae,
  signDsse,
  envelopeToJSON,
  parseEnvelope,
  envelopeFromObject,
} from './dsse.js';
export {
  type Statement,
  type StatementSubject,
  STATEMENT_V1,
  STATEMENT_V01,
  COSIGN_SIGN_PREDICATE_TYPE,
  buildImageStatement,
  buildStatement,
  parseStatement,
  subjectMatches,
} from './intoto.js';
export {
  type BundleVersion,
  type BundleContent,
  type ParsedBundle,
  type TlogEntryJSON,
  type VerificationMaterialKind,
  type VerificationMaterialInput,
  type MessageSignatureBundleInput,
  type DsseBundleInput,
  BUNDLE_V03_MEDIA_TYPE,
  BUNDLE_MEDIA_TYPES,
  isBundleMediaType,
  buildMessageSignatureBundle,
  buildDsseBundle,
  parseBundle,
} from './bundle.js';
export {
  type Artifact,
  type KeyVerificationResult,
  type LegacyBlobBundle,
  type TlogPolicy,
  artifactDigest,
  verifyArtifactSignature,
  verifyBundleWithKey,
  checkSubjects,
  parseLegacyBlobBundle,
  decodeSignatureInput,
  checkTlogPolicy,
} from './verify.js';
