/**
 * Signet's library API: everything the CLI does, without child processes.
 *
 *   import { RegistryClient, loadSigner, loadPublicKey, signImages, verifyImages } from 'signet';
 */
export { SignetError, isSignetError, type ErrorCode } from './errors.js';
export * from './keys/index.js';
export { RegistryClient, parseReference, repositoryName, referenceString, loginToDockerConfig, type Reference, type Descriptor, type RegistryClientOptions } from './oci/index.js';
export { parseBundle, buildDsseBundle, buildMessageSignatureBundle, verifyBundleWithKey, pae, signDsse, type ParsedBundle } from './sigstore/index.js';
export { signImages, type SignImagesOptions, type SignedImage } from './cosign/sign.js';
export { verifyImages, verifyOne, type VerifyImagesOptions, type ImageVerification, type ImageOutcome, type VerifiedSignature } from './cosign/verify.js';
export { triangulate, tree, downloadSignatures, clean, type AttachmentTree, type CleanType } from './cosign/inspect.js';
export { simpleSigningPayload, parseSimpleSigningPayload, type SimpleSigningPayload } from './cosign/payload.js';
export { attachmentTag, buildBundleReferrerManifest, buildLegacySignatureManifest } from './cosign/storage.js';
