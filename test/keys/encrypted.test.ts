import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import {
  decodePemBlocks,
  decryptPrivateKey,
  encodePem,
  encryptPrivateKey,
  generateKeyPair,
  publicKeyInfo,
  signerFromPrivateKey,
  verifySignature,
  type KeyKind,
} from '../../src/keys/index.js';
import { pemcosigneckey, pemcosignkey, pemsigstorekey } from './fixtures.js';
import { throwsCode } from '../helpers/assert.js';

const hello = Buffer.from('hello');


/** Rewrite the JSON inside an encrypted key PEM, keeping its label. */
function mutate(pem: string, edit: (doc: any) => void): string {
  const [block] = decodePemBlocks(pem);
  const doc = JSON.parse(block!.der.toString('utf8'));
  edit(doc);
  return encodePem(block!.label, Buffer.from(JSON.stringify(doc)));
}

// One key encrypted once with the cheapest allowed cost, reused by the malformed-input cases.
const base = generateKeyPair('ecdsa-p256').privateKey;
const basePem = encryptPrivateKey(base, hello, { N: 32768 });

describe('cosign encrypted private keys', () => {
  for (const kind of ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa', 'ed25519'] as KeyKind[]) {
    test(`${kind}: encrypt then decrypt gives the same key`, () => {
      const { privateKey, publicKey } = generateKeyPair(kind, { rsaBits: 2048 });
      const pem = encryptPrivateKey(privateKey, Buffer.from('pässwörd'));
      const back = decryptPrivateKey(pem, Buffer.from('pässwörd'));
      assert.deepEqual(
        back.export({ type: 'pkcs8', format: 'der' }),
        privateKey.export({ type: 'pkcs8', format: 'der' }),
      );
      const signer = signerFromPrivateKey(back);
      assert.ok(verifySignature(publicKeyInfo(publicKey), Buffer.from('x'), signer.sign(Buffer.from('x'))));
    });
  }

  test('the written format is exactly cosign\'s: label, JSON field order, sizes, 64-column PEM', () => {
    const pem = encryptPrivateKey(base, hello);
    const lines = pem.trimEnd().split('\n');
    assert.equal(lines[0], '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----');
    assert.equal(lines.at(-1), '-----END ENCRYPTED SIGSTORE PRIVATE KEY-----');
    for (const l of lines.slice(1, -2)) assert.equal(l.length, 64);
    const json = decodePemBlocks(pem)[0]!.der.toString('utf8');
    assert.match(
      json,
      /^\{"kdf":\{"name":"scrypt","params":\{"N":65536,"r":8,"p":1\},"salt":"[A-Za-z0-9+/]{43}="\},"cipher":\{"name":"nacl\/secretbox","nonce":"[A-Za-z0-9+/]{32}"\},"ciphertext":"[A-Za-z0-9+/=]+"\}$/,
    );
    const ct = Buffer.from(JSON.parse(json).ciphertext, 'base64');
    assert.equal(ct.length, base.export({ type: 'pkcs8', format: 'der' }).length + 16, 'secretbox adds a 16-byte tag');
    assert.notEqual(encryptPrivateKey(base, hello), pem, 'fresh salt and nonce each time');
  });

  test('COSIGN label and other allowed N values round-trip', () => {
    const pem = encryptPrivateKey(base, hello, { label: 'COSIGN', N: 131072 });
    assert.match(pem, /^-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n/);
    assert.ok(decryptPrivateKey(pem, hello).equals(base));
    throwsCode(() => encryptPrivateKey(base, hello, { N: 1024 }), 'USAGE', /1024/);
  });

  test('the empty password is a valid password', () => {
    const pem = encryptPrivateKey(base, new Uint8Array(0), { N: 32768 });
    assert.ok(decryptPrivateKey(pem, new Uint8Array(0)).equals(base));
    throwsCode(() => decryptPrivateKey(pem, Buffer.from(' ')), 'KEY_PASSWORD');
  });

  test('cosign vectors: both labels decrypt with "hello" and the keys sign and verify', () => {
    for (const pem of [pemcosignkey, pemsigstorekey]) {
      const key = decryptPrivateKey(pem, hello);
      const signer = signerFromPrivateKey(key);
      assert.equal(signer.publicKey.kind, 'ecdsa-p256');
      const msg = Buffer.from('payload');
      assert.ok(verifySignature(signer.publicKey, msg, signer.sign(msg)));
      throwsCode(() => decryptPrivateKey(pem, Buffer.from('hellO')), 'KEY_PASSWORD', /incorrect password/);
    }
  });

  test('cosign vector with SEC1 inside is rejected like cosign rejects it', () => {
    throwsCode(() => decryptPrivateKey(pemcosigneckey, hello), 'KEY_FORMAT', /SEC1/);
  });

  test('wrong password', () => {
    throwsCode(() => decryptPrivateKey(basePem, Buffer.from('hello2')), 'KEY_PASSWORD', /incorrect password/);
  });

  test('tampered ciphertext, salt or nonce fails authentication', () => {
    const flipB64 = (s: string, i: number) => {
      const b = Buffer.from(s, 'base64');
      b[i]! ^= 1;
      return b.toString('base64');
    };
    throwsCode(() => decryptPrivateKey(mutate(basePem, (d) => (d.ciphertext = flipB64(d.ciphertext, 40))), hello), 'KEY_PASSWORD');
    throwsCode(() => decryptPrivateKey(mutate(basePem, (d) => (d.kdf.salt = flipB64(d.kdf.salt, 0))), hello), 'KEY_PASSWORD');
    throwsCode(() => decryptPrivateKey(mutate(basePem, (d) => (d.cipher.nonce = flipB64(d.cipher.nonce, 23))), hello), 'KEY_PASSWORD');
    // Sanity: the unmodified document still decrypts, so the failures above come from the edits.
    assert.ok(decryptPrivateKey(mutate(basePem, () => undefined), hello).equals(base));
  });

  test('kdf parameters outside cosign\'s three sets are refused before any work', () => {
    for (const [N, r, p] of [[1024, 8, 1], [65536, 1, 1], [65536, 8, 2], [262144, 8, 1], ['65536', 8, 1]]) {
      const pem = mutate(basePem, (d) => (d.kdf.params = { N, r, p }));
      throwsCode(() => decryptPrivateKey(pem, hello), 'KEY_FORMAT', /scrypt parameters/);
    }
  });

  test('malformed documents are KEY_FORMAT with a reason', () => {
    const cases: [string, RegExp][] = [
      [mutate(basePem, (d) => (d.kdf.name = 'argon2')), /kdf "argon2"/],
      [mutate(basePem, (d) => (d.cipher.name = 'aes-gcm')), /cipher "aes-gcm"/],
      [mutate(basePem, (d) => (d.cipher.nonce = Buffer.alloc(12).toString('base64'))), /nonce must be 24 bytes/],
      [mutate(basePem, (d) => (d.ciphertext = 'not base64!')), /ciphertext is not base64/],
      [mutate(basePem, (d) => (d.ciphertext = Buffer.alloc(8).toString('base64'))), /too short/],
      [mutate(basePem, (d) => delete d.kdf), /missing kdf/],
      [mutate(basePem, (d) => delete d.kdf.params), /scrypt parameters/],
      [mutate(basePem, (d) => (d.kdf.salt = 42)), /salt is not base64/],
      [encodePem('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from('not json')), /not JSON/],
      [encodePem('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from('[]')), /missing kdf/],
      [base.export({ type: 'pkcs8', format: 'pem' }).toString(), /found PEM "PRIVATE KEY"/],
      ['no pem here', /does not contain a PEM block/],
      ['', /does not contain a PEM block/],
    ];
    for (const [pem, msg] of cases) throwsCode(() => decryptPrivateKey(pem, hello), 'KEY_FORMAT', msg);
  });

  test('a valid box around something that is not a key is KEY_FORMAT', async () => {
    // Build a correctly encrypted document whose plaintext is junk, using the same primitives.
    const { xsalsa20poly1305 } = await import('@noble/ciphers/salsa.js');
    const { scryptSync, randomBytes } = await import('node:crypto');
    const salt = randomBytes(32);
    const nonce = randomBytes(24);
    const k = scryptSync(hello, salt, 32, { N: 32768, r: 8, p: 1, maxmem: 64 << 20 });
    const ct = xsalsa20poly1305(k, nonce).encrypt(Buffer.from('definitely not pkcs8'));
    const pem = encodePem('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from(JSON.stringify({
      kdf: { name: 'scrypt', params: { N: 32768, r: 8, p: 1 }, salt: salt.toString('base64') },
      cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
      ciphertext: Buffer.from(ct).toString('base64'),
    })));
    throwsCode(() => decryptPrivateKey(pem, hello), 'KEY_FORMAT', /not valid PKCS#8/);
  });

  test('refuses to encrypt keys cosign could not load', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    throwsCode(() => encryptPrivateKey(small, hello), 'KEY_UNSUPPORTED');
    throwsCode(() => encryptPrivateKey(generateKeyPairSync('x25519').privateKey, hello), 'KEY_UNSUPPORTED');
  });
});
