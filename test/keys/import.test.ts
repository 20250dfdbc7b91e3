import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createPrivateKey } from 'node:crypto';
import { encryptPrivateKey, importPrivateKeyPem, publicKeyInfo } from '../../src/keys/index.js';
import * as fx from './fixtures.js';
import { throwsCode } from '../helpers/assert.js';


const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

describe('importPrivateKeyPem', () => {
  test('cosign\'s accepted vectors: SEC1 P-256/384/521, PKCS#8 EC and Ed25519', () => {
    const cases: [string, string][] = [
      [fx.validecp256, 'ecdsa-p256'],
      [fx.validecp384, 'ecdsa-p384'],
      [fx.validecp521, 'ecdsa-p521'],
      [fx.validecpkcs8, 'ecdsa-p256'],
      [fx.ed25519key, 'ed25519'],
    ];
    for (const [pem, kind] of cases) {
      const key = importPrivateKeyPem(pem);
      assert.equal(key.type, 'private');
      assert.equal(publicKeyInfo(key).kind, kind);
    }
  });

  test('RSA as PKCS#1 and PKCS#8, 2048 to 4096 bits', () => {
    for (const bits of [2048, 4096]) {
      const k = bits === 2048 ? rsa2048 : generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;
      for (const type of ['pkcs1', 'pkcs8'] as const) {
        const key = importPrivateKeyPem(k.export({ type, format: 'pem' }).toString());
        assert.ok(key.equals(k), `${bits} ${type}`);
      }
    }
  });

  test('an imported SEC1 key is stored as PKCS#8 once encrypted (cosign would reject SEC1)', () => {
    const key = importPrivateKeyPem(fx.validecp256);
    const pem = encryptPrivateKey(key, Buffer.from('x'), { N: 32768 });
    assert.match(pem, /ENCRYPTED SIGSTORE PRIVATE KEY/);
    assert.ok(key.equals(createPrivateKey(fx.validecp256)));
  });

  test('size and curve rules', () => {
    throwsCode(() => importPrivateKeyPem(fx.invalidrsasmallkey), 'KEY_UNSUPPORTED', /RSA key size 1024/);
    const rsa5120 = generateKeyPairSync('rsa', { modulusLength: 5120 }).privateKey;
    throwsCode(() => importPrivateKeyPem(rsa5120.export({ type: 'pkcs1', format: 'pem' }).toString()), 'KEY_UNSUPPORTED', /5120/);
    throwsCode(() => importPrivateKeyPem(fx.invalidecp224), 'KEY_UNSUPPORTED', /P-224/);
    throwsCode(() => importPrivateKeyPem(fx.invalidecunsupported), 'KEY_UNSUPPORTED', /secp256k1/);
    const p224 = generateKeyPairSync('ec', { namedCurve: 'secp224r1' }).privateKey;
    throwsCode(() => importPrivateKeyPem(p224.export({ type: 'pkcs8', format: 'pem' }).toString()), 'KEY_UNSUPPORTED', /P-224/);
    const ed448 = generateKeyPairSync('ed448').privateKey;
    throwsCode(() => importPrivateKeyPem(ed448.export({ type: 'pkcs8', format: 'pem' }).toString()), 'KEY_UNSUPPORTED', /ed448/);
  });

  test('encrypted inputs are refused with a way forward', () => {
    const pkcs8enc = rsa2048.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
    throwsCode(() => importPrivateKeyPem(pkcs8enc), 'KEY_FORMAT', /encrypted PKCS#8.*openssl/);
    const legacy = rsa2048.export({ type: 'pkcs1', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
    assert.match(legacy, /Proc-Type: 4,ENCRYPTED/);
    throwsCode(() => importPrivateKeyPem(legacy), 'KEY_FORMAT', /password-encrypted/);
    throwsCode(() => importPrivateKeyPem(fx.pemsigstorekey), 'KEY_FORMAT', /already in cosign's encrypted format/);
  });

  test('not a private key', () => {
    const publicPem = publicKeyInfo(rsa2048).pem;
    throwsCode(() => importPrivateKeyPem(publicPem), 'KEY_FORMAT', /"PUBLIC KEY", not a private key/);
    throwsCode(() => importPrivateKeyPem(fx.invalidkeyHeader), 'KEY_FORMAT', /PGP PRIVATE KEY BLOCK/);
    throwsCode(() => importPrivateKeyPem('just text'), 'KEY_FORMAT', /does not contain a PEM block/);
  });

  test('a PEM label that does not match its contents is KEY_FORMAT, not a crash', () => {
    const der = rsa2048.export({ type: 'pkcs1', format: 'der' }).toString('base64');
    throwsCode(() => importPrivateKeyPem(`-----BEGIN EC PRIVATE KEY-----\n${der}\n-----END EC PRIVATE KEY-----\n`), 'KEY_FORMAT', /not a valid private key/);
    throwsCode(() => importPrivateKeyPem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), 'KEY_FORMAT');
  });
});
