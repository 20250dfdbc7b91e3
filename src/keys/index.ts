/** The keys layer: key kinds, signing and verification, cosign's encrypted key format, key references. */
export {
  type KeyKind,
  type HashAlg,
  type PublicKeyInfo,
  type Signer,
  type LocalSigner,
  type GeneratedKeyPair,
  RSA_MIN_BITS,
  RSA_MAX_BITS,
  publicKeyInfo,
  sigstoreKeyDetails,
  parsePublicKey,
  signerFromPrivateKey,
  verifySignature,
  verifyPrehashed,
  verifyEcdsaDigest,
  verifyEcdsaDigestOf,
  standardEcPublicKey,
  generateKeyPair,
  privateKeyPkcs8,
} from './keys.js';
export {
  type EncryptOptions,
  SIGSTORE_KEY_LABEL,
  COSIGN_KEY_LABEL,
  encryptPrivateKey,
  decryptPrivateKey,
  isEncryptedKeyLabel,
} from './encrypted.js';
export { importPrivateKeyPem } from './import.js';
export {
  type PasswordSource,
  type WriteKeyPairOptions,
  loadSigner,
  loadPublicKey,
  kmsPluginRef,
  writeKeyPair,
} from './refs.js';
export { type PemBlock, decodePemBlocks, encodePem } from './pem.js';
export { certificateSpki } from './ec-spki.js';
export { type Pkcs11Uri, parsePkcs11Uri, formatPkcs11Uri, isPkcs11Uri } from './pkcs11-uri.js';
export {
  type PinPrompt,
  type TokenSummary,
  type KeyUri,
  setPinPrompt,
  listTokens,
  listKeyUris,
  pkcs11Signer,
  pkcs11PublicKey,
  closePkcs11Modules,
} from './pkcs11.js';
export {
  type KmsRef,
  KMS_PLUGIN_PREFIX,
  KmsPluginClient,
  parseKmsRef,
  findKmsPlugin,
  resolveKmsRef,
  kmsPluginSigner,
  kmsPluginPublicKey,
  kmsPluginCreateKey,
} from './kms-plugin.js';
