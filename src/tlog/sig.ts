/** Signing and verification with the key types logs use, one rule per key type (shared by notes and SETs). */
import { type KeyObject, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { SignetError } from '../errors.js';

/**
 * The digest for a key: Ed25519 signs the message itself (RFC 8032, no prehash); ECDSA uses the hash
 * matching its curve as sigstore's PublicKeyDetails do (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512);
 * RSA uses PKCS#1 v1.5 with SHA-256.
 */
export function digestFor(key: KeyObject): string | null {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return null;
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'sha256';
      if (curve === 'secp384r1') return 'sha384';
      if (curve === 'secp521r1') return 'sha512';
      throw new SignetError('KEY_UNSUPPORTED', `ECDSA curve ${curve ?? 'unknown'} is not supported for log signatures`);
    }
    case 'rsa':
      return 'sha256';
    default:
      throw new SignetError('KEY_UNSUPPORTED', `${key.asymmetricKeyType ?? 'unknown'} keys are not supported for log signatures`);
  }
}

export function signBytes(data: Uint8Array, privateKey: KeyObject): Uint8Array {
  if (privateKey.type !== 'private') throw new SignetError('KEY_FORMAT', 'signing needs a private key');
  // ECDSA signatures are DER (ASN.1) encoded, as Rekor and Go's ecdsa.SignASN1 produce them.
  return cryptoSign(digestFor(privateKey), data, privateKey);
}

/** signBytes on the libuv thread pool: the event loop pays only the hand-off. */
export function signBytesAsync(data: Uint8Array, privateKey: KeyObject): Promise<Uint8Array> {
  if (privateKey.type !== 'private') return Promise.reject(new SignetError('KEY_FORMAT', 'signing needs a private key'));
  return new Promise((resolve, reject) => {
    cryptoSign(digestFor(privateKey), data, privateKey, (err, sig) => (err ? reject(err) : resolve(sig)));
  });
}

/** False for a wrong or malformed signature; never throws for bad signature bytes. */
export function verifyBytes(data: Uint8Array, signature: Uint8Array, publicKey: KeyObject): boolean {
  const digest = digestFor(publicKey);
  try {
    return cryptoVerify(digest, data, publicKey, signature);
  } catch {
    return false;
  }
}
