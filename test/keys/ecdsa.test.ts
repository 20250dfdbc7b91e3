/**
 * keys/ecdsa.ts is Signet's one ECDSA-over-digest verifier: the native addon when it is loaded, the ECDH
 * fallback otherwise. Every route — the addon alone, the fallback alone, the exported verifier,
 * verifyPrehashed and the server's batched thread-pool route — is fed the same vectors and must give
 * the verdict of an independent oracle (@noble/curves' own verify; OpenSSL for signatures it made).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { ecdsaBackend, ecPoint, verifyEcdsaDigest as direct, verifyEcdsaDigestEcdh, verifyEcdsaDigestNative } from '../../src/keys/ecdsa.js';
import { publicKeyInfo, standardEcPublicKey, verifyEcdsaDigest, verifyEcdsaDigestOf, verifyPrehashed, type HashAlg } from '../../src/keys/index.js';
import { verifyEcdsaDigestBatched } from '../../src/rekor/ecdsa.js';
import { nativeCrypto } from '../../src/native.js';

const NOBLE = { 'P-256': p256, 'P-384': p384, 'P-521': p521 } as const;
type CurveName = keyof typeof NOBLE;

interface Vector {
  what: string;
  key: KeyObject;
  digest: Buffer;
  sig: Buffer;
  /** The verdict OpenSSL gave over the message, where there is one. */
  openssl?: boolean;
  /** The hash the digest was made with, when it is a full digest (verifyPrehashed takes only those). */
  hash?: HashAlg;
}

function der(r: bigint, s: bigint): Buffer {
  const int = (v: bigint): Buffer => {
    let h = v.toString(16);
    if (h.length % 2) h = '0' + h;
    let b = Buffer.from(h, 'hex');
    if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([2, b.length]), b]);
  };
  const body = Buffer.concat([int(r), int(s)]);
  return body.length < 128 ? Buffer.concat([Buffer.from([0x30, body.length]), body]) : Buffer.concat([Buffer.from([0x30, 0x81, body.length]), body]);
}

function vectors(curve: CurveName): Vector[] {
  const c = NOBLE[curve];
  const n = c.Point.Fn.ORDER;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const other = generateKeyPairSync('ec', { namedCurve: curve }).publicKey;
  const foreign = generateKeyPairSync('ec', { namedCurve: curve === 'P-256' ? 'P-384' : 'P-256' }).publicKey;
  const out: Vector[] = [];
  for (const [i, hash] of (['sha256', 'sha384', 'sha512', 'sha256', 'sha384', 'sha512'] as const).entries()) {
    const msg = randomBytes(24);
    const digest = createHash(hash).update(msg).digest();
    const sig = sign(hash, msg, privateKey);
    out.push({ what: `${curve} ${hash} valid`, key: publicKey, digest, sig, openssl: true, hash });
    const parsed = c.Signature.fromBytes(sig, 'der');
    const highS = der(parsed.r, n - parsed.s);
    out.push({ what: `${curve} ${hash} high-s`, key: publicKey, digest, sig: highS, openssl: nodeVerify(hash, msg, publicKey, highS), hash });
    out.push({ what: `${curve} ${hash} another key`, key: other, digest, sig, openssl: false, hash });
    const d2 = Buffer.from(digest);
    d2[i % d2.length]! ^= 1;
    out.push({ what: `${curve} ${hash} digest flipped`, key: publicKey, digest: d2, sig, hash });
    const s2 = Buffer.from(sig);
    s2[s2.length - 1 - i]! ^= 0x10;
    out.push({ what: `${curve} ${hash} signature flipped`, key: publicKey, digest, sig: s2, openssl: nodeVerify(hash, msg, publicKey, s2), hash });
    out.push({ what: `${curve} ${hash} truncated signature`, key: publicKey, digest, sig: sig.subarray(0, sig.length - 1), hash });
    out.push({ what: `${curve} ${hash} key of another curve`, key: foreign, digest, sig, hash });
  }
  const d = createHash('sha256').update('x').digest();
  out.push({ what: `${curve} empty DER`, key: publicKey, digest: d, sig: Buffer.from([0x30, 0x00]) });
  out.push({ what: `${curve} no signature`, key: publicKey, digest: d, sig: Buffer.alloc(0) });
  out.push({ what: `${curve} r = 0`, key: publicKey, digest: d, sig: der(0n, 1n) });
  out.push({ what: `${curve} s = 0`, key: publicKey, digest: d, sig: der(1n, 0n) });
  out.push({ what: `${curve} r = n`, key: publicKey, digest: d, sig: der(n, 1n) });
  out.push({ what: `${curve} s = n`, key: publicKey, digest: d, sig: der(1n, n) });
  // A digest shorter than the order (20 bytes) and an empty one: both routes use bits2int unchanged.
  const short = randomBytes(20);
  out.push({ what: `${curve} 20-byte digest`, key: publicKey, digest: short, sig: Buffer.from(c.sign(short, c.utils.randomSecretKey(), { prehash: false, format: 'der' })) });
  const sk = c.utils.randomSecretKey();
  const pub = c.getPublicKey(sk, false);
  out.push({ what: `${curve} 20-byte digest, own key`, key: publicKeyFromPoint(curve, pub), digest: short, sig: Buffer.from(c.sign(short, sk, { prehash: false, format: 'der', lowS: false })) });
  return out;
}

function publicKeyFromPoint(curve: CurveName, point: Uint8Array): KeyObject {
  const len = (point.length - 1) / 2;
  const x = Buffer.from(point.subarray(1, 1 + len)).toString('base64url');
  const y = Buffer.from(point.subarray(1 + len)).toString('base64url');
  return createPublicKey({ key: { kty: 'EC', crv: curve, x, y }, format: 'jwk' });
}

function oracle(v: Vector): boolean {
  const curve = v.key.asymmetricKeyDetails?.namedCurve;
  const c = curve === 'prime256v1' ? p256 : curve === 'secp384r1' ? p384 : curve === 'secp521r1' ? p521 : undefined;
  if (!c) return false;
  try {
    return c.verify(v.sig, v.digest, ecPoint(v.key)!, { prehash: false, lowS: false, format: 'der' });
  } catch {
    return false;
  }
}

describe('ECDSA over a digest: one verifier, every route the same verdict', () => {
  it('reports the route it uses: the addon when it loaded, the fallback otherwise', () => {
    assert.equal(ecdsaBackend.name, nativeCrypto.addon ? 'native' : 'ecdh');
    if (ecdsaBackend.name === 'ecdh') assert.ok(ecdsaBackend.why, 'the fallback says why the addon is not used');
  });

  for (const curve of Object.keys(NOBLE) as CurveName[]) {
    it(`${curve}: native, fallback, keys' verifier, verifyPrehashed and the batched route agree with the oracle`, async () => {
      for (const v of vectors(curve)) {
        const want = oracle(v);
        if (v.openssl !== undefined) assert.equal(want, v.openssl, `${v.what}: the oracle agrees with OpenSSL`);
        assert.equal(verifyEcdsaDigestEcdh(v.key, v.digest, v.sig), want, `${v.what}: fallback`);
        const nat = verifyEcdsaDigestNative(v.key, v.digest, v.sig);
        if (nativeCrypto.addon) assert.equal(nat, want, `${v.what}: native`);
        else assert.equal(nat, undefined);
        assert.equal(direct(v.key, v.digest, v.sig), want, `${v.what}: keys/ecdsa.ts`);
        assert.equal(verifyEcdsaDigest(v.key, v.digest, v.sig), want, `${v.what}: keys/index.ts`);
        const info = publicKeyInfo(v.key);
        assert.equal(await verifyEcdsaDigestBatched(info, v.digest, v.sig), want, `${v.what}: batched`);
        // Described from its DER alone (P-256, P-384): no KeyObject is made, the verdict is the same.
        const bare = standardEcPublicKey(info.spkiDer);
        assert.equal(bare !== undefined, info.kind !== 'ecdsa-p521', `${v.what}: P-256 and P-384 keys are read without node:crypto`);
        if (bare) {
          assert.equal(verifyEcdsaDigestOf(bare, v.digest, v.sig), want, `${v.what}: by DER`);
          assert.equal(await verifyEcdsaDigestBatched(bare, v.digest, v.sig), want, `${v.what}: batched, by DER`);
        }
        if (v.hash) {
          assert.equal(verifyPrehashed(publicKeyInfo(v.key), v.digest, v.hash, v.sig), want, `${v.what}: verifyPrehashed`);
        }
      }
    });
  }

  it('keys that are not ECDSA keys of a supported curve never verify', () => {
    const d = Buffer.alloc(32, 1);
    const sig = der(1n, 1n);
    for (const key of [generateKeyPairSync('ed25519').publicKey, generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey]) {
      assert.equal(verifyEcdsaDigestEcdh(key, d, sig), false);
      assert.equal(verifyEcdsaDigest(key, d, sig), false);
      if (nativeCrypto.addon) assert.equal(verifyEcdsaDigestNative(key, d, sig), false);
    }
  });

  it('without the addon (SIGNET_NATIVE=0) the fallback verifies, and verifyPrehashed goes through it', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const msg = randomBytes(16);
    const sig = sign('sha384', msg, privateKey).toString('base64');
    const digest = createHash('sha384').update(msg).digest('base64');
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const keysUrl = new URL('../../src/keys/index.js', import.meta.url).href;
    const ecdsaUrl = new URL('../../src/keys/ecdsa.js', import.meta.url).href;
    const script = `
      const k = await import(${JSON.stringify(keysUrl)});
      const e = await import(${JSON.stringify(ecdsaUrl)});
      const info = k.parsePublicKey(${JSON.stringify(pem)});
      const d = Buffer.from(${JSON.stringify(digest)}, 'base64');
      const s = Buffer.from(${JSON.stringify(sig)}, 'base64');
      const bad = Buffer.from(d); bad[0] ^= 1;
      console.log(JSON.stringify([e.ecdsaBackend.name, k.verifyPrehashed(info, d, 'sha384', s), k.verifyPrehashed(info, bad, 'sha384', s), k.verifyEcdsaDigest(info.key, d, s)]));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, SIGNET_NATIVE: '0' }, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), ['ecdh', true, false, true]);
  });
});
