/** The OCI layer: references (pure), credentials, the HTTP transport and the registry client. */
export {
  DOCKER_HUB,
  defaultsToPlainHttp,
  isLoopbackRegistry,
  isValidDigest,
  isValidTag,
  parseReference,
  referenceString,
  registryHostname,
  repositoryName,
  withDigest,
  withTag,
  type Reference,
} from './reference.js';
export {
  DOCKER_HUB_CONFIG_KEY,
  configKeyFor,
  dockerConfigPath,
  loginToDockerConfig,
  resolveCredentials,
  runCredentialHelper,
  type Credentials,
  type ExplicitCredentials,
} from './auth.js';
export { DEFAULT_RETRY, RegistryHttpError, Transport, parseChallenge, type RetryOptions, type TransportOptions } from './transport.js';
export { RegistryClient, referrersFallbackTag, type ImageReader, type ListCodec, type Manifest, type ReferrerPush, type ReferrersResult, type RegistryClientOptions, type Repo } from './client.js';
export { DEFAULT_MANIFEST_ACCEPT, MEDIA_TYPE, digestWithAlgorithmOf, parseDescriptor, sha256Digest, type Descriptor, type Platform } from './types.js';
export { LayoutReader, LayoutWriter, type LayoutManifest } from './layout.js';
export { FilePieces, WIRE_CHANNEL, type PieceSource } from './wire.js';
