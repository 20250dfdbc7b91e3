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
  writeKeyPair,
} from './refs.js';
export { type PemBlock, decodePemBlocks, encodePem } from './pem.js';
