/**
 * Signet's library API: everything the CLI does, without child processes.
 *
 *   import { RegistryClient, loadSigner, loadPublicKey, signImages, verifyImages } from 'signet';
 *   import { signBlob, verifyBlob, parseBlobBundle, keylessSigner, identityPolicy, keylessTrust } from 'signet';
 *   import { attestBlob, blobAttestationStatement, verifyBlobAttestation } from 'signet';
 *   import { attestImages, verifyImageAttestations } from 'signet';
 *   import { copyImage, saveImage, loadImage, attachSignature, generatePayload, createBundle, uploadFiles } from 'signet';
 *
 * The commands in cli/ are these calls plus flags, prompts and printing.
 */
export { SignetError, isSignetError, type ErrorCode } from './errors.js';
export * from './keys/index.js';
export { RegistryClient, parseReference, repositoryName, referenceString, loginToDockerConfig, type Reference, type Descriptor, type RegistryClientOptions } from './oci/index.js';
export { parseBundle, buildDsseBundle, buildMessageSignatureBundle, verifyBundleWithKey, pae, signDsse, type ParsedBundle } from './sigstore/index.js';
export { signImages, type SignImagesOptions, type SignedImage, type SignatureMaterial } from './cosign/sign.js';
export { verifyImages, verifyOne, type VerifyImagesOptions, type ImageVerification, type ImageOutcome, type VerifiedSignature } from './cosign/verify.js';
export { dockerfileImages, expandDockerfileVars, type DockerfileImage, type DockerfileImages } from './cosign/dockerfile.js';
export { manifestImages, type ManifestImage } from './cosign/k8s-images.js';
export { triangulate, tree, downloadSignatures, clean, type AttachmentTree, type CleanType } from './cosign/inspect.js';
export { simpleSigningPayload, parseSimpleSigningPayload, type SimpleSigningPayload } from './cosign/payload.js';

// Moving signed images (copy, save, load), signing in two steps (generate, attach, bundle create), upload.
export { LayoutReader, LayoutWriter, type ImageReader } from './oci/index.js';
export { copyImage, planTransfer, executeTransfer, registrySource, registrySink, parseOnly, type CopyOptions, type TransferStats, type TransferPlan } from './cosign/copy.js';
export { saveImage, loadImage, LayoutSource, LayoutImageReader, type SaveOptions, type LoadOptions } from './cosign/save-load.js';
export { generatePayload, attachSignature, attachSbom, downloadSboms, sbomMediaType, SBOM_MEDIA_TYPE, type AttachSignatureOptions, type AttachSbomOptions } from './cosign/attach.js';
export { attachmentTag, buildBundleReferrerManifest, buildLegacySignatureManifest } from './cosign/storage.js';
export { createBundle, type CreateBundleOptions } from './cosign/bundle-create.js';
export { uploadFiles, parseFileFlag, sniffMediaType, WASM_LAYER_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE, type UploadFile, type UploadFilesOptions } from './cosign/upload.js';
export { RekorV1Client, TileLogClient, type TlogTarget, type V1LogEntry, type V1LogInfo } from './sigstore/rekor-client.js';
export { loadTrustedRoot, parseTrustedRoot, type TrustedRoot, type TrustedLog } from './sigstore/trustedroot.js';
export { parseSigningConfig, loadSigningConfig, serializeSigningConfig, type SigningConfig } from './sigstore/signing-config.js';
export type { Artifact, HashAlg } from './sigstore/index.js';
export type { IdentityPolicy } from './sigstore/identity.js';
export type { TrustMaterial } from './sigstore/verifier.js';
export type { KeylessSigner } from './sigstore/sign-keyless.js';

// Blob flows (sign-blob, verify-blob) and the set-up they share with the image flows.
export { tlogTarget, keyedTimestampUrls, type TlogTargetOptions } from './sigstore/tlog-target.js';
// Own PKI and timestamps: certificates and CAs from cosign's flags, TSAs, cosign's timestamp JSON.
export {
  authoritiesFromChain,
  authoritiesFromPools,
  certificatesFromPem,
  certificatesPem,
  checkCertificateKey,
  checkSigningChain,
  parseTimestampJson,
  timestampAuthorityFromChain,
  timestampJson,
} from './cosign/pki.js';
export { verifySignatureTimestamps } from './sigstore/verifier.js';
export type { TsaTlsOptions } from './sigstore/tsa-client.js';
export { keylessSigner, signerIdentity, identityPolicy, keylessTrust, type KeylessSignOptions, type IdentityPolicyInput } from './sigstore/keyless.js';
export { signBlob, checkBlobTlog, messageDigestAlg, type SignBlobOptions, type SignBlobWithKeyOptions, type SignBlobKeylessOptions, type BlobSignature } from './cosign/sign-blob.js';
export {
  verifyBlob,
  verifyBlobEvidence,
  parseBlobBundle,
  readBlobBundle,
  keylessBlobBundle,
  neededDigests,
  type BlobEvidence,
  type BlobArtifact,
  type VerifyBlobOptions,
  type BlobVerification,
} from './cosign/verify-blob.js';
export { readBlob, digestFile, readSmallFile, readSignatureFlag, artifactTarget, MAX_BUNDLE_BYTES } from './cosign/blob-io.js';

// Attestations: predicate types and statements, attest-blob, verify-blob-attestation.
export {
  PREDICATE_TYPE_ALIASES,
  COSIGN_CUSTOM_PREDICATE,
  resolvePredicateType,
  buildPredicate,
  buildAttestationStatement,
  checkStatementFile,
  type AttestationStatementInput,
} from './cosign/predicate.js';
export { attestBlob, blobAttestationStatement, blobSubjectName, type AttestBlobOptions, type BlobAttestation, type BlobStatementInput } from './cosign/attest-blob.js';
export {
  verifyBlobAttestation,
  verifyBlobAttestationEvidence,
  parseAttestationBundle,
  readAttestationBundle,
  parseEnvelopeSignature,
  checkAttestationPlan,
  checkClaimsInput,
  type AttestationEvidence,
  type AttestationPlan,
  type VerifyBlobAttestationOptions,
  type BlobAttestationVerification,
} from './cosign/verify-blob-attestation.js';

// Image attestations: attest, verify-attestation, download/attach attestation; the GitHub Actions provenance.
export { attestImages, attachAttestations, PREDICATE_TYPE_ANNOTATION, type AttestImagesOptions, type AttestedImage } from './cosign/attest.js';
export {
  verifyImageAttestations,
  type VerifyAttestationsOptions,
  type VerifiedAttestation,
  type ImageAttestations,
  type AttestationOutcome,
} from './cosign/verify-attestation.js';
export { downloadAttestations, platformImage } from './cosign/inspect.js';
export { githubActionsProvenance, inGithubActions, GITHUB_WORKFLOW_BUILD_TYPE } from './cosign/slsa-github.js';

// Transparency-log monitoring (log info / log verify).
export {
  verifyLogEntry,
  verifyLogInfo,
  verifyCheckpointWithAnyLog,
  trustedRootFromLogKey,
  checkConsistency,
  checkpointPath,
  readStoredCheckpoint,
  type LogEntryVerification,
  type StoredCheckpoint,
  type VerifiedCheckpoint,
} from './sigstore/log-monitor.js';
// `log monitor`: consistency rounds and identity watch (rekor-monitor's jobs).
export {
  monitorRound,
  readMonitorState,
  parseMonitorConfig,
  loadMonitorConfig,
  entryMatcher,
  parseEntryBody,
  LogAlarm,
  type MonitorOptions,
  type MonitorState,
  type MonitorEvent,
  type MonitorConfig,
  type MonitoredValues,
  type CertIdentityRule,
  type OidMatcher,
  type WatchedEntry,
  type EntryMatch,
  type RoundResult,
  type AlarmReason,
} from './sigstore/log-watch.js';

// Trust configuration for private deployments (trusted-root create, signing-config create).
export { buildTrustedRoot, buildSigningConfigFromSpecs, parseServiceSpec, parseSelector, type TrustedRootSpecs, type SigningConfigSpecs } from './sigstore/trust-builder.js';

// Policies over attestations (verify-attestation --policy): CUE, Rego (through an opa on PATH) and CEL.
export { loadPolicies, loadPolicy, policyLanguage, type AttestationPolicy, type PolicyLanguage, type PolicyVerdict } from './policy/index.js';

// TUF: `initialize`, the cached trust material every command uses after it, cosign v3's signing-config rules,
// and the TUF repository `signet serve` publishes (for servers of one's own).
export { initialize, tufTrust, signingConfigInPlay, defaultTufCacheDir, type TufOptions, type TufResult, type ServiceFlags, type SigningConfigSource } from './sigstore/tuf.js';
export { configuredTrustedRoot } from './sigstore/keyless.js';
export { ensureTufRepository, type TufRepositoryOptions, type TufRepositoryState } from './server/tuf/index.js';

// Kubernetes admission (signet admission): policy-controller's ClusterImagePolicies over AdmissionReviews.
export {
  AdmissionEngine,
  loadPolicySet,
  loadNamespaces,
  parseReview,
  validateRequest,
  mutateRequest,
  reviewOut,
  compileGlob,
  type ImagePolicy,
  type PolicySet,
  type ImageVerdict,
  type NoMatchAction,
  type AdmissionRequest,
  type AdmissionResponse,
} from './admission/index.js';
