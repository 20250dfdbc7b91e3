/**
 * Plain PEM private keys brought in by `import-key-pair`: PKCS#1 RSA, SEC1 EC and PKCS#8 (RSA, EC,
 * Ed25519). The size and curve rules are cosign's (RSA 2048..4096, P-256/P-384/P-521).
 */
import { createPrivateKey, KeyObject } from 'node:crypto';
import { SignetError } from '../errors.js';
import { isEncryptedKeyLabel } from './encrypted.js';
import { publicKeyInfo } from './keys.js';
import { decodeFirstPem } from './pem.js';

const IMPORT_RSA_MIN_BITS = 2048;
const IMPORT_RSA_MAX_BITS = 4096;

export function importPrivateKeyPem(pem: string): KeyObject {
  const block = decodeFirstPem(pem, 'the key file');
  if (block.headers['Proc-Type']?.includes('ENCRYPTED')) {
    throw new SignetError(
      'KEY_FORMAT',
      `the "${block.label}" key is password-encrypted (OpenSSL legacy format); decrypt it first, e.g. openssl pkey -in KEY -out plain.pem`,
    );
  }
  let type: 'pkcs1' | 'sec1' | 'pkcs8';
  switch (block.label) {
    case 'RSA PRIVATE KEY':
      type = 'pkcs1';
      break;
    case 'EC PRIVATE KEY':
      type = 'sec1';
      break;
    case 'PRIVATE KEY':
      type = 'pkcs8';
      break;
    case 'ENCRYPTED PRIVATE KEY':
      throw new SignetError(
        'KEY_FORMAT',
        'the key is an encrypted PKCS#8 key; decrypt it first, e.g. openssl pkey -in KEY -out plain.pem',
      );
    default:
      if (isEncryptedKeyLabel(block.label)) {
        throw new SignetError('KEY_FORMAT', 'the key is already in cosign\'s encrypted format; no import needed');
      }
      if (/PUBLIC KEY|CERTIFICATE/.test(block.label)) {
        throw new SignetError('KEY_FORMAT', `the file holds a "${block.label}", not a private key`);
      }
      throw new SignetError(
        'KEY_FORMAT',
        `unsupported private key PEM type "${block.label}" (use RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY)`,
      );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: block.der, format: 'der', type });
  } catch (e) {
    throw new SignetError('KEY_FORMAT', `the "${block.label}" block is not a valid private key`, { cause: e });
  }
  // OpenSSL's decoders guess the structure, so a mislabelled block can parse; Go's would not.
  const expected = type === 'pkcs1' ? 'rsa' : type === 'sec1' ? 'ec' : undefined;
  if (expected && key.asymmetricKeyType !== expected) {
    throw new SignetError('KEY_FORMAT', `the "${block.label}" block is not a valid private key (it holds a ${key.asymmetricKeyType} key)`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType === 'rsa' && (bits < IMPORT_RSA_MIN_BITS || bits > IMPORT_RSA_MAX_BITS)) {
    throw new SignetError('KEY_UNSUPPORTED', `RSA key size ${bits} is not allowed (${IMPORT_RSA_MIN_BITS} to ${IMPORT_RSA_MAX_BITS} bits to sign, as in cosign; 2048 to 8192 bits to verify)`);
  }
  publicKeyInfo(key);
  return key;
}
