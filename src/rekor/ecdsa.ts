/**
 * ECDSA verification over a digest. node:crypto only verifies ECDSA over messages it hashes itself, yet a
 * hashedrekord entry carries only the digest, and this check is the CPU ceiling of every log write.
 *
 * Two backends give the same verdict (standard ECDSA, high-s accepted, as OpenSSL and Go do):
 *  - `native`: native/log_crypto.c (loaded by src/native.ts), a small Node-API addon built at install
 *    time that hands the digest to EVP_PKEY_verify of the OpenSSL inside the node binary itself
 *    (~11,000 P-256 checks/s per core on the bench machine);
 *  - `ecdh`: no compiled code. OpenSSL's ECDH does the scalar multiplications
 *      u1·G  = the public key of the private scalar u1 (full point),
 *      u2·Q  = x of ECDH(u2, Q); its y sign is fixed by comparing x(cand + Q) with x of ECDH(u2 + 1, Q),
 *    and noble does the cheap affine additions; any degenerate case falls back to noble's own verify
 *    (~2,200 checks/s). Used where the addon did not build, or with SIGNET_NATIVE=0.
 */
import { createECDH, type ECDH, type KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { availableParallelism } from 'node:os';
import { perTurnBatcher } from '../batching.js';
import { nativeCrypto } from '../native.js';

type Curve = typeof p256;
const CURVES: Record<string, { curve: Curve; ecdh: string; bytes: number }> = {
  prime256v1: { curve: p256, ecdh: 'prime256v1', bytes: 32 },
  secp384r1: { curve: p384 as unknown as Curve, ecdh: 'secp384r1', bytes: 48 },
  secp521r1: { curve: p521 as unknown as Curve, ecdh: 'secp521r1', bytes: 66 },
};

const ecdhCache = new Map<string, ECDH>();
function ecdhFor(name: string): ECDH {
  let e = ecdhCache.get(name);
  if (!e) ecdhCache.set(name, (e = createECDH(name)));
  return e;
}

function toBytes(v: bigint, len: number): Buffer {
  return Buffer.from(v.toString(16).padStart(len * 2, '0'), 'hex');
}

function mod(a: bigint, n: bigint): bigint {
  const r = a % n;
  return r < 0n ? r + n : r;
}

function invert(a: bigint, n: bigint): bigint {
  let [t, newT, r, newR] = [0n, 1n, n, mod(a, n)];
  while (newR !== 0n) {
    const q = r / newR;
    [t, newT] = [newT, t - q * newT];
    [r, newR] = [newR, r - q * newR];
  }
  return mod(t, n);
}

/** The uncompressed point of an EC public key, or undefined for curves this does not cover. */
const points = new WeakMap<KeyObject, Buffer | undefined>();

export function ecPoint(key: KeyObject): Buffer | undefined {
  if (points.has(key)) return points.get(key);
  const c = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  let p: Buffer | undefined;
  if (c) {
    const jwk = key.export({ format: 'jwk' });
    p = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  }
  points.set(key, p);
  return p;
}

const native = nativeCrypto;

/** Which backend verifies: `native` (OpenSSL EVP_PKEY_verify) or `ecdh` (the pure-TypeScript route). */
export const ecdsaBackend: { name: 'native' | 'ecdh'; why?: string } = native.addon
  ? { name: 'native' }
  : { name: 'ecdh', ...(native.why ? { why: native.why } : {}) };

const spkis = new WeakMap<KeyObject, Buffer>();

/** The DER SubjectPublicKeyInfo the addon takes, for a key of a supported curve (cached per key). */
function spkiOf(key: KeyObject): Buffer | undefined {
  if (key.asymmetricKeyType !== 'ec' || !CURVES[key.asymmetricKeyDetails?.namedCurve ?? '']) return undefined;
  let spki = spkis.get(key);
  if (!spki) spkis.set(key, (spki = key.export({ format: 'der', type: 'spki' })));
  return spki;
}

/** Standard ECDSA verification of a DER signature over `digest`. False for anything invalid. */
export function verifyEcdsaDigest(key: KeyObject, digest: Uint8Array, sigDer: Uint8Array): boolean {
  if (!native.addon) return verifyEcdsaDigestEcdh(key, digest, sigDer);
  const spki = spkiOf(key);
  return spki ? native.addon.verify(spki, digest, sigDer) : false;
}

const verifyBatched = native.addon
  ? perTurnBatcher<{ spki: Buffer; digest: Uint8Array; sig: Uint8Array }, boolean>(async (jobs) => {
      const v = await native.addon!.verifyMany(
        jobs.map((j) => j.spki),
        jobs.map((j) => j.digest),
        jobs.map((j) => j.sig),
      );
      return Array.from(v, (x) => x === 1);
    }, { maxChunks: availableParallelism() })
  : undefined;

/**
 * verifyEcdsaDigest for servers, off the event loop: checks asked for in one turn of the event loop go
 * to the libuv thread pool as one batch (see perTurnBatcher). Without the addon it runs in place.
 */
export async function verifyEcdsaDigestBatched(key: KeyObject, digest: Uint8Array, sigDer: Uint8Array): Promise<boolean> {
  if (!verifyBatched) return verifyEcdsaDigestEcdh(key, digest, sigDer);
  const spki = spkiOf(key);
  return spki ? verifyBatched({ spki, digest, sig: sigDer }) : false;
}

/** The same verdict without compiled code (see the top of this file). */
export function verifyEcdsaDigestEcdh(key: KeyObject, digest: Uint8Array, sigDer: Uint8Array): boolean {
  const c = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
  const q = ecPoint(key);
  if (!c || !q) return false;
  const { curve, bytes } = c;
  const Point = curve.Point;
  const n = Point.Fn.ORDER;
  const slow = (): boolean => {
    try {
      return curve.verify(sigDer, digest, q, { prehash: false, lowS: false, format: 'der' });
    } catch {
      return false;
    }
  };
  let r: bigint;
  let s: bigint;
  try {
    const sig = curve.Signature.fromBytes(sigDer, 'der');
    r = sig.r;
    s = sig.s;
  } catch {
    return false;
  }
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false;
  // bits2int (FIPS 186 / RFC 6979 §2.3.2): the leftmost bitlen(n) bits of the digest.
  let e = digest.length === 0 ? 0n : BigInt('0x' + Buffer.from(digest).toString('hex'));
  const excess = digest.length * 8 - Point.Fn.BITS;
  if (excess > 0) e >>= BigInt(excess);
  const w = invert(s, n);
  const u1 = mod(e * w, n);
  const u2 = mod(r * w, n);
  if (u1 === 0n || u2 === 0n || u2 + 1n === n) return slow();
  try {
    const ecdh = ecdhFor(c.ecdh);
    ecdh.setPrivateKey(toBytes(u1, bytes));
    const a = Point.fromBytes(ecdh.getPublicKey());
    ecdh.setPrivateKey(toBytes(u2, bytes));
    const xb = ecdh.computeSecret(q);
    ecdh.setPrivateKey(toBytes(u2 + 1n, bytes));
    const xb1 = ecdh.computeSecret(q);
    const cand = Point.fromBytes(Buffer.concat([Buffer.from([2]), xb]));
    const qp = Point.fromBytes(q);
    const plus = cand.add(qp);
    const minus = cand.negate().add(qp);
    const xb1n = BigInt('0x' + xb1.toString('hex'));
    const okPlus = !plus.is0() && plus.toAffine().x === xb1n;
    const okMinus = !minus.is0() && minus.toAffine().x === xb1n;
    if (okPlus === okMinus) return slow();
    const b = okPlus ? cand : cand.negate();
    const rp = a.add(b);
    if (rp.is0()) return false;
    return mod(rp.toAffine().x, n) === r;
  } catch {
    return slow();
  }
}
