/**
 * Ed25519ph (RFC 8032 §5.1, empty context) verified from the SHA-512 digest alone, which is all a
 * hashedrekord entry carries. @noble/curves' ed25519ph hashes the message itself, so this builds the same
 * scheme with the digest passed straight through as the "prehash".
 */
import { type KeyObject, createHash } from 'node:crypto';
import { eddsa } from '@noble/curves/abstract/edwards.js';
import { ed25519 } from '@noble/curves/ed25519.js';

/** SHA-512 from OpenSSL in the shape noble expects of a hash function. */
const sha512 = Object.assign((m: Uint8Array) => new Uint8Array(createHash('sha512').update(m).digest()), {
  outputLen: 64,
  blockLen: 128,
  create: () => {
    const h = createHash('sha512');
    const o = {
      update: (m: Uint8Array) => (h.update(m), o),
      digest: () => new Uint8Array(h.digest()),
    };
    return o;
  },
});

const DOM2 = Buffer.from('SigEd25519 no Ed25519 collisions', 'latin1');

const fromDigest = eddsa(ed25519.Point, sha512 as never, {
  // dom2(phflag = 1, context = "") as RFC 8032 prescribes for Ed25519ph.
  domain: (data: Uint8Array, ctx: Uint8Array, phflag: boolean) => {
    if (ctx.length > 255) throw new Error('context too long');
    return Buffer.concat([DOM2, Uint8Array.of(phflag ? 1 : 0, ctx.length), ctx, data]);
  },
  prehash: (digest: Uint8Array) => digest,
  zip215: false,
});

/** True when `sig` is an Ed25519ph signature over the message whose SHA-512 is `digest`. */
export function verifyEd25519ph(key: KeyObject, digest: Uint8Array, sig: Uint8Array): boolean {
  if (key.asymmetricKeyType !== 'ed25519' || digest.length !== 64 || sig.length !== 64) return false;
  const raw = key.export({ format: 'der', type: 'spki' }).subarray(-32);
  try {
    return fromDigest.verify(sig, digest, raw);
  } catch {
    return false;
  }
}
