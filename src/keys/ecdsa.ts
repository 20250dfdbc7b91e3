/**
 * Signet's one ECDSA verifier over a precomputed digest. node:crypto only verifies ECDSA over messages it
 * hashes itself, yet a hashedrekord entry or `verify-blob sha256:<hex>` carries only the digest; the log
 * server, the bundle verifier and verifyPrehashed all come here.
 *
 * Two routes give the same verdict (standard ECDSA, high-s accepted, as OpenSSL and Go do; digests longer
 * than the curve order are truncated to its bit length, FIPS 186 bits2int):
 *  - `native`: native/log_crypto.c (loaded by src/native.ts) hands the digest to EVP_PKEY_verify of the
 *    OpenSSL inside the node binary (~11,000 P-256 checks/s per core on the bench machine);
 *  - `ecdh`, the one fallback, with no compiled code: OpenSSL's ECDH does the scalar multiplications
 *      u1·G  = the public key of the private scalar u1 (full point),
 *      u2·Q  = x of ECDH(u2, Q); its y sign is fixed by comparing x(cand + Q) with x of ECDH(u2 + 1, Q),
 *    and @noble/curves does the cheap affine additions; a degenerate case falls back to noble's own
 *    verify (~2,200 checks/s). Used where the addon did not build, or with SIGNET_NATIVE=0.
 * @noble/curves costs 25-55 ms to load, so it is required (synchronously) only when the fallback runs.
 */
import { createECDH, type ECDH, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { nativeCrypto } from '../native.js';

type NistCurves = typeof import('@noble/curves/nist.js');
type Curve = NistCurves['p256'];

const CURVES: Record<string, { noble: 'p256' | 'p384' | 'p521'; bytes: number }> = {
  prime256v1: { noble: 'p256', bytes: 32 },
  secp384r1: { noble: 'p384', bytes: 48 },
  secp521r1: { noble: 'p521', bytes: 66 },
};

let nist: NistCurves | undefined;
function nobleCurve(name: 'p256' | 'p384' | 'p521'): Curve {
  nist ??= createRequire(import.meta.url)('@noble/curves/nist.js') as NistCurves;
  return nist[name] as unknown as Curve;
}

const native = nativeCrypto;

/** Which route verifies: `native` (OpenSSL EVP_PKEY_verify) or `ecdh` (the TypeScript fallback). */
export const ecdsaBackend: { name: 'native' | 'ecdh'; why?: string } = native.addon
  ? { name: 'native' }
  : { name: 'ecdh', ...(native.why ? { why: native.why } : {}) };

/** The curve entry of an EC key of a supported curve. */
function curveOf(key: KeyObject): (typeof CURVES)[string] | undefined {
  return key.asymmetricKeyType === 'ec' ? CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
}

const points = new WeakMap<KeyObject, Buffer | undefined>();

/** The uncompressed point of an EC public key (cached per key), or undefined for other keys and curves. */
export function ecPoint(key: KeyObject): Buffer | undefined {
  if (points.has(key)) return points.get(key);
  let p: Buffer | undefined;
  if (curveOf(key)) {
    const jwk = key.export({ format: 'jwk' });
    p = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  }
  points.set(key, p);
  return p;
}

const spkis = new WeakMap<KeyObject, Buffer>();

/** The DER SubjectPublicKeyInfo the addon takes, for an EC key of a supported curve (cached per key). */
export function ecdsaSpki(key: KeyObject): Buffer | undefined {
  if (!curveOf(key)) return undefined;
  let spki = spkis.get(key);
  if (!spki) spkis.set(key, (spki = key.export({ format: 'der', type: 'spki' })));
  return spki;
}

/** Standard ECDSA verification of a DER signature over `digest`. False for anything invalid, never throws. */
export function verifyEcdsaDigest(key: KeyObject, digest: Uint8Array, sigDer: Uint8Array): boolean {
  if (!native.addon) return verifyEcdsaDigestEcdh(key, digest, sigDer);
  const spki = ecdsaSpki(key);
  return spki ? native.addon.verify(spki, digest, sigDer) : false;
}

/**
 * verifyEcdsaDigest for a key described by its kind and DER SPKI (keys.ts PublicKeyInfo): with the addon
 * the DER is checked as it is, so a key parsed without node:crypto (standardEcPublicKey) never needs a
 * KeyObject; the fallback takes the KeyObject.
 */
export function verifyEcdsaDigestOf(pub: { kind: string; spkiDer: Buffer; key: KeyObject }, digest: Uint8Array, sigDer: Uint8Array): boolean {
  if (!pub.kind.startsWith('ecdsa-')) return false;
  return native.addon ? native.addon.verify(pub.spkiDer, digest, sigDer) : verifyEcdsaDigestEcdh(pub.key, digest, sigDer);
}

/** The native route alone, or undefined when the addon is not loaded (for tests that compare routes). */
export function verifyEcdsaDigestNative(key: KeyObject, digest: Uint8Array, sigDer: Uint8Array): boolean | undefined {
  if (!native.addon) return undefined;
  const spki = ecdsaSpki(key);
  return spki ? native.addon.verify(spki, digest, sigDer) : false;
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

const ecdhCache = new Map<string, ECDH>();
function ecdhFor(name: string): ECDH {
  let e = ecdhCache.get(name);
  if (!e) ecdhCache.set(name, (e = createECDH(name)));
  return e;
}

/** The fallback route (see the top of this file): the same verdict as the addon without compiled code. */
export function verifyEcdsaDigestEcdh(key: KeyObject, digest: Uint8Array, sigDer: Uint8Array): boolean {
  const c = curveOf(key);
  const q = ecPoint(key);
  if (!c || !q) return false;
  const curve = nobleCurve(c.noble);
  const { bytes } = c;
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
    const ecdh = ecdhFor(key.asymmetricKeyDetails!.namedCurve!);
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
