/**
 * Standard P-256/P-384 SPKIs read without node:crypto (keys/ec-spki.ts, standardEcPublicKey): the same
 * description as node:crypto gives, and exactly the same keys accepted — node:crypto (OpenSSL) is the
 * oracle for every point tried here, on the curve or off it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createECDH, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { certificateSpki, standardEcSpki } from '../../src/keys/ec-spki.js';
import { selfSignedCert } from '../rekor/fixtures.js';
import { parsePublicKey, publicKeyInfo, standardEcPublicKey } from '../../src/keys/index.js';

const CURVES = [
  { name: 'P-256', prefix: '3059301306072a8648ce3d020106082a8648ce3d030107034200', size: 32, kind: 'ecdsa-p256', hash: 'sha256', ecdh: 'prime256v1' },
  { name: 'P-384', prefix: '3076301006072a8648ce3d020106052b81040022036200', size: 48, kind: 'ecdsa-p384', hash: 'sha384', ecdh: 'secp384r1' },
] as const;

function nodeAccepts(der: Buffer): boolean {
  try {
    createPublicKey({ key: der, format: 'der', type: 'spki' });
    return true;
  } catch {
    return false;
  }
}

function spkiOf(prefix: string, point: Buffer): Buffer {
  return Buffer.concat([Buffer.from(prefix, 'hex'), point]);
}

describe('standard EC SPKIs read without node:crypto', () => {
  for (const c of CURVES) {
    it(`${c.name}: every generated key is described exactly as node:crypto describes it`, () => {
      for (let i = 0; i < 200; i++) {
        const pub = generateKeyPairSync('ec', { namedCurve: c.name }).publicKey;
        const der = pub.export({ format: 'der', type: 'spki' });
        assert.equal(der.subarray(0, c.prefix.length / 2).toString('hex'), c.prefix, 'node exports the standard form');
        const want = publicKeyInfo(pub);
        for (const got of [standardEcPublicKey(der), parsePublicKey(der), parsePublicKey(want.pem)]) {
          assert.ok(got);
          assert.equal(got.kind, c.kind);
          assert.equal(got.hash, c.hash);
          assert.deepEqual(got.spkiDer, want.spkiDer);
          assert.equal(got.pem, want.pem);
          assert.equal(got.hint, want.hint);
          assert.ok(got.key.equals(pub), 'the KeyObject made on demand is the same key');
        }
      }
    });

    it(`${c.name}: a point is accepted exactly when node:crypto accepts it`, () => {
      const ecdh = createECDH(c.ecdh);
      const p = c.name === 'P-256' ? 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n : 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n;
      const hex = (v: bigint): string => v.toString(16).padStart(2 * c.size, '0');
      let offCurve = 0;
      for (let i = 0; i < 300; i++) {
        ecdh.generateKeys();
        const good = ecdh.getPublicKey();
        const x = BigInt(`0x${good.subarray(1, 1 + c.size).toString('hex')}`);
        const y = BigInt(`0x${good.subarray(1 + c.size).toString('hex')}`);
        const candidates = [
          good,
          // y of the other sign: still on the curve
          Buffer.from(`04${hex(x)}${hex(p - y)}`, 'hex'),
          // one coordinate moved: off the curve
          Buffer.from(`04${hex(x)}${hex((y + 1n) % p)}`, 'hex'),
          Buffer.from(`04${hex((x + 1n) % p)}${hex(y)}`, 'hex'),
          // coordinates that are not field elements: y + p (when it still fits) and x = p
          ...(y + p < 2n ** BigInt(8 * c.size) ? [Buffer.from(`04${hex(x)}${hex(y + p)}`, 'hex')] : []),
          Buffer.from(`04${hex(p)}${hex(y)}`, 'hex'),
          // random bytes
          Buffer.concat([Buffer.from([4]), randomBytes(2 * c.size)]),
        ];
        for (const point of candidates) {
          const der = spkiOf(c.prefix, point);
          const node = nodeAccepts(der);
          assert.equal(standardEcSpki(der) !== undefined, node, `${point.toString('hex')}: node:crypto ${node ? 'accepts' : 'refuses'} it`);
          if (!node) offCurve++;
        }
      }
      assert.ok(offCurve >= 900, 'the points off the curve were tried too');
    });

    it(`${c.name}: other encodings are left to node:crypto`, () => {
      const ecdh = createECDH(c.ecdh);
      ecdh.generateKeys();
      const der = spkiOf(c.prefix, ecdh.getPublicKey());
      // a trailing byte, a cut point, a changed length byte, a changed OID byte
      const bad = [Buffer.concat([der, Buffer.from([0])]), der.subarray(0, der.length - 1), Buffer.from(der), Buffer.from(der)];
      bad[2]![1] = bad[2]![1]! + 1;
      bad[3]![10] = bad[3]![10]! ^ 1;
      for (const b of bad) assert.equal(standardEcSpki(b), undefined);
      // A compressed point is a valid key, but not the standard form: node:crypto describes it.
      const compressedPrefix = Buffer.from(c.prefix, 'hex');
      compressedPrefix[1] = compressedPrefix[1]! - c.size;
      compressedPrefix[compressedPrefix.length - 2] = compressedPrefix[compressedPrefix.length - 2]! - c.size;
      const compressed = Buffer.concat([compressedPrefix, ecdh.getPublicKey(null, 'compressed')]);
      assert.ok(nodeAccepts(compressed), 'node:crypto takes the compressed form');
      assert.equal(standardEcSpki(compressed), undefined);
      assert.equal(parsePublicKey(compressed).kind, c.kind);
    });
  }

  it('P-521, RSA and Ed25519 keys go the general way', () => {
    for (const pub of [
      generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
      generateKeyPairSync('ed25519').publicKey,
    ]) {
      const der = pub.export({ format: 'der', type: 'spki' });
      assert.equal(standardEcSpki(der), undefined);
      assert.deepEqual(parsePublicKey(der).spkiDer, der);
    }
  });

  it('a key off the curve is refused with the same error as before', () => {
    const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const der = Buffer.from(pub.export({ format: 'der', type: 'spki' }));
    der[der.length - 1] = der[der.length - 1]! ^ 1;
    const pem = `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`;
    assert.throws(() => parsePublicKey(pem), { code: 'KEY_FORMAT', message: 'PEM block "PUBLIC KEY" does not hold a valid public key' });
    assert.throws(() => parsePublicKey(der), { code: 'KEY_FORMAT', message: 'public key is not a valid DER SubjectPublicKeyInfo' });
  });

  it('a description copied with spread keeps its key and hint', () => {
    const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const info = standardEcPublicKey(pub.export({ format: 'der', type: 'spki' }))!;
    const copy = { ...info };
    assert.ok(copy.key.equals(pub));
    assert.equal(copy.hint, publicKeyInfo(pub).hint);
  });

  it("a certificate's SubjectPublicKeyInfo is found in its DER: the bytes node:crypto exports", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signet-cert-spki-'));
    try {
      const certs: Buffer[] = [(await selfSignedCert()).certDer];
      // openssl's certificates: several key types, a v1 certificate (no version field) and a v3 one
      for (const [i, alg] of [['ec', '-pkeyopt ec_paramgen_curve:P-384'], ['rsa', '-pkeyopt rsa_keygen_bits:2048'], ['ed25519', ''], ['ec', '-pkeyopt ec_paramgen_curve:P-256']].entries()) {
        const key = join(dir, `k${i}.pem`);
        const cert = join(dir, `c${i}.pem`);
        execFileSync('openssl', ['genpkey', '-algorithm', alg[0]!, ...alg[1]!.split(' ').filter(Boolean), '-out', key]);
        if (i === 3) {
          // openssl x509 -req with no extensions writes a version 1 certificate
          const csr = join(dir, 'r.csr');
          execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=v1', '-out', csr]);
          execFileSync('openssl', ['x509', '-req', '-in', csr, '-key', key, '-days', '1', '-out', cert]);
        } else {
          execFileSync('openssl', ['req', '-x509', '-key', key, '-subj', `/CN=test ${i}`, '-days', '1', '-addext', 'subjectAltName=email:a@example.com', '-out', cert]);
        }
        certs.push(Buffer.from(new X509Certificate(readFileSync(cert)).raw));
      }
      assert.equal(certs[4]![4], 0x30, 'the last one has no version field (it would start with [0])');
      for (const der of certs) {
        const want = new X509Certificate(der).publicKey.export({ format: 'der', type: 'spki' });
        assert.deepEqual(Buffer.from(certificateSpki(der)!), want);
        // truncated or changed DER is never misread: undefined, or still a SEQUENCE inside the bytes
        for (const cut of [0, 1, 4, 10, der.length >> 1, der.length - 1]) {
          const got = certificateSpki(der.subarray(0, cut));
          assert.equal(got, undefined, `cut at ${cut}`);
        }
      }
      for (let i = 0; i < 500; i++) assert.doesNotThrow(() => certificateSpki(randomBytes(i)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
