import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, readdir, chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSignetError } from '../../src/errors.js';
import {
  encryptPrivateKey,
  generateKeyPair,
  loadPublicKey,
  loadSigner,
  publicKeyInfo,
  verifySignature,
  writeKeyPair,
} from '../../src/keys/index.js';
import { pemsigstorekey } from './fixtures.js';

async function rejectsCode(p: Promise<unknown>, code: string, msg?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isSignetError(e), `expected SignetError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (msg) assert.match(e.message, msg);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

let dir: string;
const pw = Buffer.from('s3cret');
const { privateKey } = generateKeyPair('ecdsa-p256');
const encPem = encryptPrivateKey(privateKey, pw, { N: 32768 });
const pubPem = publicKeyInfo(privateKey).pem;
let asked = 0;
const getPw = async () => {
  asked++;
  return Buffer.from(pw);
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signet-keys-'));
  await writeFile(join(dir, 'k.key'), encPem);
  await writeFile(join(dir, 'k.pub'), pubPem);
  await writeFile(join(dir, 'plain.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  delete process.env.SIGNET_TEST_KEY;
  delete process.env.SIGNET_TEST_EMPTY;
});

describe('key references', () => {
  test('loadSigner from a file and from env://', async () => {
    asked = 0;
    const s1 = await loadSigner(join(dir, 'k.key'), getPw);
    process.env.SIGNET_TEST_KEY = encPem;
    const s2 = await loadSigner('env://SIGNET_TEST_KEY', getPw);
    assert.equal(asked, 2);
    const msg = Buffer.from('m');
    assert.ok(verifySignature(s2.publicKey, msg, await s1.sign(msg)));
    assert.equal(s1.publicKey.hint, publicKeyInfo(privateKey).hint);
  });

  test('loadSigner accepts cosign\'s own encrypted key', async () => {
    const s = await loadSigner(await writeTmp('cosign.key', pemsigstorekey), async () => Buffer.from('hello'));
    assert.equal(s.publicKey.kind, 'ecdsa-p256');
  });

  test('wrong password names the source', async () => {
    await rejectsCode(loadSigner(join(dir, 'k.key'), async () => Buffer.from('nope')), 'KEY_PASSWORD', /k\.key: incorrect password/);
  });

  test('other schemes are KEY_UNSUPPORTED by name', async () => {
    for (const [ref, shown] of [
      ['k8s://ns/secret', /scheme k8s:\/\/ is not supported/],
      ['awskms:///alias/x', /awskms:\/\/ keys need the KMS plug-in sigstore-kms-awskms on PATH/],
      ['gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k', /sigstore-kms-gcpkms on PATH \(Signet has no built-in Google Cloud KMS client\)/],
      ['azurekms://vault.vault.azure.net/key', /sigstore-kms-azurekms on PATH/],
      ['hashivault://key', /sigstore-kms-hashivault on PATH/],
      ['somekms://key', /scheme somekms:\/\/ is not supported: no KMS plug-in sigstore-kms-somekms on PATH/],
      ['http://example.test/cosign.pub', /plain HTTP; use https:\/\//],
    ] as const) {
      await rejectsCode(loadSigner(ref, getPw), 'KEY_UNSUPPORTED', shown);
      await rejectsCode(loadPublicKey(ref, getPw), 'KEY_UNSUPPORTED', shown);
    }
    await rejectsCode(loadSigner('https://example.test/cosign.pub', getPw), 'KEY_UNSUPPORTED', /public key URL; signing needs a private key/);
    await rejectsCode(loadSigner('pkcs11:token=t;object=o', getPw), 'USAGE', /module-path or COSIGN_PKCS11_MODULE_PATH/);
  });

  test('missing file, directory, unset env var', async () => {
    const missing = join(dir, 'nope.key');
    await rejectsCode(loadSigner(missing, getPw), 'IO', new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: no such file`));
    await rejectsCode(loadSigner(dir, getPw), 'IO', /is a directory/);
    await rejectsCode(loadSigner('env://SIGNET_TEST_UNSET_VAR', getPw), 'USAGE', /SIGNET_TEST_UNSET_VAR.*not set/);
    process.env.SIGNET_TEST_EMPTY = '';
    await rejectsCode(loadSigner('env://SIGNET_TEST_EMPTY', getPw), 'USAGE', /not set/);
    await rejectsCode(loadSigner('env://', getPw), 'USAGE');
    await rejectsCode(loadSigner('', getPw), 'USAGE');
  });

  test('loadSigner refuses unencrypted keys and public keys without asking for a password', async () => {
    asked = 0;
    await rejectsCode(loadSigner(join(dir, 'plain.pem'), getPw), 'KEY_FORMAT', /not an encrypted cosign private key.*import-key-pair/);
    await rejectsCode(loadSigner(join(dir, 'k.pub'), getPw), 'KEY_FORMAT', /PUBLIC KEY/);
    await rejectsCode(loadSigner(await writeTmp('junk', 'junk'), getPw), 'KEY_FORMAT', /does not contain a PEM/);
    assert.equal(asked, 0);
  });

  test('loadPublicKey: public key file, env://, encrypted private key (with password), certificate-less errors', async () => {
    asked = 0;
    const a = await loadPublicKey(join(dir, 'k.pub'));
    process.env.SIGNET_TEST_KEY = pubPem;
    const b = await loadPublicKey('env://SIGNET_TEST_KEY');
    assert.equal(asked, 0);
    const c = await loadPublicKey(join(dir, 'k.key'), getPw);
    assert.equal(asked, 1);
    assert.deepEqual(a.spkiDer, b.spkiDer);
    assert.deepEqual(a.spkiDer, c.spkiDer);
    await rejectsCode(loadPublicKey(join(dir, 'k.key')), 'USAGE', /password is needed/);
    await rejectsCode(loadPublicKey(join(dir, 'plain.pem')), 'KEY_FORMAT', /plain\.pem: .*private key/);
    // DER SPKI in a file
    const der = await writeTmp('k.der', a.spkiDer);
    assert.deepEqual((await loadPublicKey(der)).spkiDer, a.spkiDer);
  });
});

async function writeTmp(name: string, content: string | Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, content);
  return p;
}

describe('writeKeyPair', () => {
  test('writes 0600 key and 0644 pub and no temp files', async () => {
    const sub = join(dir, 'w1');
    await mkdir(sub);
    const prefix = join(sub, 'cosign');
    const old = process.umask(0o022);
    try {
      const { keyPath, pubPath } = await writeKeyPair(prefix, encPem, pubPem, { overwrite: false });
      assert.equal(keyPath, prefix + '.key');
      assert.equal(pubPath, prefix + '.pub');
      assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
      assert.equal((await stat(pubPath)).mode & 0o777, 0o644);
      assert.equal(await readFile(keyPath, 'utf8'), encPem);
      assert.equal(await readFile(pubPath, 'utf8'), pubPem);
      assert.deepEqual((await readdir(sub)).sort(), ['cosign.key', 'cosign.pub']);
    } finally {
      process.umask(old);
    }
  });

  test('refuses to overwrite, leaving existing files intact; overwrites when told', async () => {
    const sub = join(dir, 'w2');
    await mkdir(sub);
    const prefix = join(sub, 'cosign');
    await writeFile(prefix + '.pub', 'OLD PUB');
    await rejectsCode(writeKeyPair(prefix, encPem, pubPem, { overwrite: false }), 'IO', /cosign\.pub already exists/);
    assert.equal(await readFile(prefix + '.pub', 'utf8'), 'OLD PUB');
    assert.deepEqual(await readdir(sub), ['cosign.pub'], 'no key written, no temp files left');

    await writeFile(prefix + '.key', 'OLD KEY');
    await rejectsCode(writeKeyPair(prefix, encPem, pubPem, { overwrite: false }), 'IO', /cosign\.key already exists/);
    assert.equal(await readFile(prefix + '.key', 'utf8'), 'OLD KEY');

    await writeKeyPair(prefix, encPem, pubPem, { overwrite: true });
    assert.equal(await readFile(prefix + '.key', 'utf8'), encPem);
    assert.equal(await readFile(prefix + '.pub', 'utf8'), pubPem);
    assert.equal((await stat(prefix + '.key')).mode & 0o777, 0o600);
    assert.deepEqual((await readdir(sub)).sort(), ['cosign.key', 'cosign.pub']);
  });

  test('an overwritten key file that was world-readable becomes 0600', async () => {
    const sub = join(dir, 'w3');
    await mkdir(sub);
    const prefix = join(sub, 'k');
    await writeFile(prefix + '.key', 'OLD');
    await chmod(prefix + '.key', 0o644);
    await writeKeyPair(prefix, encPem, pubPem, { overwrite: true });
    assert.equal((await stat(prefix + '.key')).mode & 0o777, 0o600);
  });

  test('a missing directory or unwritable one is an IO error naming the file, nothing left behind', async () => {
    await rejectsCode(writeKeyPair(join(dir, 'no', 'such', 'dir', 'k'), encPem, pubPem, { overwrite: false }), 'IO', /k\.key/);
    if (process.getuid?.() !== 0) {
      const ro = join(dir, 'ro');
      await mkdir(ro, { mode: 0o500 });
      await rejectsCode(writeKeyPair(join(ro, 'k'), encPem, pubPem, { overwrite: false }), 'IO', /permission denied/);
    }
    await rejectsCode(writeKeyPair('', encPem, pubPem, { overwrite: false }), 'USAGE');
  });
});
