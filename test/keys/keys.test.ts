import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import {
  generateKeyPair,
  parsePublicKey,
  publicKeyInfo,
  signerFromPrivateKey,
  verifyPrehashed,
  verifySignature,
  type HashAlg,
  type KeyKind,
} from '../../src/keys/index.js';
import { throwsCode } from '../helpers/assert.js';

const KINDS: KeyKind[] = ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa', 'ed25519'];
const EXPECTED_HASH: Record<KeyKind, HashAlg | null> = {
  'ecdsa-p256': 'sha256',
  'ecdsa-p384': 'sha384',
  'ecdsa-p521': 'sha512',
  rsa: 'sha256',
  ed25519: null,
};

const pairs = new Map(KINDS.map((k) => [k, generateKeyPair(k, { rsaBits: 2048 })]));
const data = Buffer.from('the artifact bytes\n');


describe('key kinds and signing', () => {
  for (const kind of KINDS) {
    test(`${kind}: kind, hash, hint, sign and verify`, () => {
      const { privateKey, publicKey } = pairs.get(kind)!;
      const signer = signerFromPrivateKey(privateKey);
      assert.equal(signer.publicKey.kind, kind);
      assert.equal(signer.publicKey.hash, EXPECTED_HASH[kind]);
      const spki = publicKey.export({ type: 'spki', format: 'der' });
      assert.deepEqual(signer.publicKey.spkiDer, spki);
      assert.equal(signer.publicKey.hint, createHash('sha256').update(spki).digest('base64'));
      assert.match(signer.publicKey.pem, /^-----BEGIN PUBLIC KEY-----\n/);

      const sig = signer.sign(data);
      assert.ok(verifySignature(signer.publicKey, data, sig));
      // An independent verifier with the documented hash must agree (catches a wrong hash choice).
      const pub = parsePublicKey(signer.publicKey.pem);
      assert.ok(verifySignature(pub, data, sig));
      assert.ok(pub.key.equals(publicKey));

      assert.equal(verifySignature(pub, Buffer.from('other bytes'), sig), false);
      const flipped = Buffer.from(sig);
      flipped[flipped.length - 1]! ^= 1;
      assert.equal(verifySignature(pub, data, flipped), false);
      assert.equal(verifySignature(pub, data, Buffer.alloc(0)), false);
      assert.equal(verifySignature(pub, data, Buffer.from('garbage')), false);
    });
  }

  test('ECDSA signatures are DER and use the curve-size hash', () => {
    const { privateKey, publicKey } = pairs.get('ecdsa-p384')!;
    const sig = signerFromPrivateKey(privateKey).sign(data);
    assert.equal(sig[0], 0x30);
    // Signed with SHA-384, so a SHA-256 verification must fail.
    assert.equal(nodeVerify('sha384', data, publicKey, sig), true);
    assert.equal(nodeVerify('sha256', data, publicKey, sig), false);
  });

  test('signerFromPrivateKey refuses a public key', () => {
    throwsCode(() => signerFromPrivateKey(pairs.get('ecdsa-p256')!.publicKey), 'KEY_FORMAT');
  });

  test('generateKeyPair rejects an unknown kind and odd RSA sizes', () => {
    throwsCode(() => generateKeyPair('dsa' as KeyKind), 'USAGE');
    throwsCode(() => generateKeyPair('rsa', { rsaBits: 1024 as 2048 }), 'USAGE');
  });
});

describe('parsePublicKey', () => {
  const { publicKey } = pairs.get('rsa')!;
  const spki = publicKey.export({ type: 'spki', format: 'der' });

  test('PEM PUBLIC KEY, PEM RSA PUBLIC KEY, DER SPKI and Buffer PEM give the same key', () => {
    const a = parsePublicKey(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const b = parsePublicKey(publicKey.export({ type: 'pkcs1', format: 'pem' }).toString());
    const c = parsePublicKey(spki);
    const d = parsePublicKey(Buffer.from(a.pem));
    for (const x of [b, c, d]) assert.deepEqual(x.spkiDer, a.spkiDer);
    assert.equal(a.kind, 'rsa');
  });

  test('leading text before the PEM block is ignored, like Go pem.Decode', () => {
    const pem = 'comment line\n' + pairs.get('ecdsa-p256')!.publicKey.export({ type: 'spki', format: 'pem' });
    assert.equal(parsePublicKey(pem).kind, 'ecdsa-p256');
  });

  test('a certificate gives its subject public key', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'signet-cert-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes',
        '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-subj', '/CN=test', '-days', '1'], { stdio: 'ignore' });
    } catch {
      t.skip('openssl CLI not available');
      return;
    }
    const certPem = readFileSync(join(dir, 'c.pem'), 'utf8');
    const info = parsePublicKey(certPem);
    assert.equal(info.kind, 'ecdsa-p384');
    assert.deepEqual(info.spkiDer, new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }));
  });

  test('rejects small RSA, non-NIST curves and other key types with KEY_UNSUPPORTED', () => {
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    throwsCode(() => parsePublicKey(rsa1024.export({ type: 'spki', format: 'pem' }).toString()), 'KEY_UNSUPPORTED', /1024/);
    const p224 = generateKeyPairSync('ec', { namedCurve: 'secp224r1' }).publicKey;
    throwsCode(() => parsePublicKey(p224.export({ type: 'spki', format: 'der' })), 'KEY_UNSUPPORTED', /P-224/);
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey;
    throwsCode(() => parsePublicKey(k1.export({ type: 'spki', format: 'pem' }).toString()), 'KEY_UNSUPPORTED', /secp256k1/);
    const ed448 = generateKeyPairSync('ed448').publicKey;
    throwsCode(() => parsePublicKey(ed448.export({ type: 'spki', format: 'pem' }).toString()), 'KEY_UNSUPPORTED', /ed448/);
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey;
    throwsCode(() => parsePublicKey(pss.export({ type: 'spki', format: 'pem' }).toString()), 'KEY_UNSUPPORTED', /rsa-pss/);
  });

  test('rejects garbage, private keys, unknown PEM types and broken PEM with KEY_FORMAT', () => {
    throwsCode(() => parsePublicKey('hello'), 'KEY_FORMAT');
    throwsCode(() => parsePublicKey(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])), 'KEY_FORMAT');
    throwsCode(() => parsePublicKey(Buffer.alloc(0)), 'KEY_FORMAT');
    const priv = pairs.get('ecdsa-p256')!.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    throwsCode(() => parsePublicKey(priv), 'KEY_FORMAT', /private key/);
    throwsCode(() => parsePublicKey('-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n'), 'KEY_FORMAT', /FOO/);
    throwsCode(() => parsePublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n'), 'KEY_FORMAT', /END/);
    throwsCode(() => parsePublicKey('-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n'), 'KEY_FORMAT');
    throwsCode(() => parsePublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'), 'KEY_FORMAT');
    throwsCode(() => parsePublicKey('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), 'KEY_FORMAT');
  });

  test('publicKeyInfo of a private key describes its public half', () => {
    const { privateKey, publicKey } = pairs.get('ed25519')!;
    assert.equal(publicKeyInfo(privateKey).key.type, 'public');
    assert.ok(publicKeyInfo(privateKey).key.equals(publicKey));
  });
});

describe('verifyPrehashed', () => {
  const algs: HashAlg[] = ['sha256', 'sha384', 'sha512'];
  for (const kind of ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa'] as const) {
    for (const alg of algs) {
      test(`${kind} with ${alg}`, () => {
        const { privateKey } = pairs.get(kind)!;
        const pub = publicKeyInfo(privateKey);
        const sig = nodeSign(alg, data, privateKey);
        const digest = createHash(alg).update(data).digest();
        assert.equal(verifyPrehashed(pub, digest, alg, sig), true);
        const wrong = Buffer.from(digest);
        wrong[0]! ^= 0x80;
        assert.equal(verifyPrehashed(pub, wrong, alg, sig), false);
        const badSig = Buffer.from(sig);
        badSig[badSig.length - 2]! ^= 0x01;
        assert.equal(verifyPrehashed(pub, digest, alg, badSig), false);
        assert.equal(verifyPrehashed(pub, digest, alg, sig.subarray(0, sig.length - 1)), false);
        assert.equal(verifyPrehashed(pub, digest, alg, Buffer.alloc(0)), false);
        // A signature made with another key must not verify.
        const other = publicKeyInfo(generateKeyPair(kind, { rsaBits: 2048 }).publicKey);
        assert.equal(verifyPrehashed(other, digest, alg, sig), false);
      });
    }
  }

  test('RSA: a signature over the same digest bytes under another hash algorithm does not verify', () => {
    const { privateKey } = pairs.get('rsa')!;
    const pub = publicKeyInfo(privateKey);
    const sig = nodeSign('sha256', data, privateKey);
    const d256 = createHash('sha256').update(data).digest();
    // Same 32 bytes, but claimed as the prefix of a sha512 digest: lengths differ → USAGE, not a pass.
    throwsCode(() => verifyPrehashed(pub, d256, 'sha512', sig), 'USAGE');
  });

  test('ECDSA high-S signatures verify like OpenSSL verifies them', () => {
    const curves = { 'ecdsa-p256': p256, 'ecdsa-p384': p384, 'ecdsa-p521': p521 } as const;
    for (const kind of Object.keys(curves) as (keyof typeof curves)[]) {
      const c = curves[kind];
      const { privateKey } = pairs.get(kind)!;
      const pub = publicKeyInfo(privateKey);
      const alg = pub.hash!;
      const sig = nodeSign(alg, data, privateKey);
      const parsed = c.Signature.fromBytes(sig, 'der');
      const n = c.Point.Fn.ORDER;
      const mirrored = Buffer.from(new c.Signature(parsed.r, n - parsed.s).toBytes('der'));
      const digest = createHash(alg).update(data).digest();
      assert.equal(verifySignature(pub, data, mirrored), true, 'OpenSSL accepts the mirrored signature');
      assert.equal(verifyPrehashed(pub, digest, alg, mirrored), true, `${kind}: prehashed agrees with OpenSSL`);
    }
  });

  test('Ed25519 cannot be verified from a digest', () => {
    const pub = publicKeyInfo(pairs.get('ed25519')!.publicKey);
    throwsCode(() => verifyPrehashed(pub, Buffer.alloc(32), 'sha256', Buffer.alloc(64)), 'KEY_UNSUPPORTED', /Ed25519/);
  });

  test('digest length must match the algorithm', () => {
    const pub = publicKeyInfo(pairs.get('ecdsa-p256')!.publicKey);
    throwsCode(() => verifyPrehashed(pub, Buffer.alloc(31), 'sha256', Buffer.alloc(70)), 'USAGE', /32 bytes/);
    throwsCode(() => verifyPrehashed(pub, Buffer.alloc(32), 'md5' as HashAlg, Buffer.alloc(70)), 'USAGE');
  });
});
