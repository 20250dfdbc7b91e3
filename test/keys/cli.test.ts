import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, readdir, mkdir } from 'node:fs/promises';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decryptPrivateKey, parsePublicKey } from '../../src/keys/index.js';
import { invalidrsasmallkey, pemsigstorekey, validecp384 } from './fixtures.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COSIGN_') && !k.startsWith('SIGNET_')) env[k] = v;
  return { ...env, ...extra };
}

/** Run the real CLI; stdin is a pipe (never a TTY), fed with `input`. */
function signet(cwd: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Run {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    cwd,
    env: cleanEnv(opts.env),
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLineError(r: Run, code: number, msg: RegExp): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^Error: [^\n]+\n$/, `one line on stderr, got: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, msg);
  assert.equal(r.stdout, '');
}

let dir: string;
let n = 0;
async function freshDir(): Promise<string> {
  const d = join(dir, `case${n++}`);
  await mkdir(d);
  return d;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signet-cli-keys-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('signet generate-key-pair', () => {
  test('with COSIGN_PASSWORD: writes cosign.key (0600) and cosign.pub, messages on stderr', async () => {
    const d = await freshDir();
    const r = signet(d, ['generate-key-pair'], { env: { COSIGN_PASSWORD: 'pw1' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'Private key written to cosign.key\nPublic key written to cosign.pub\n');
    assert.equal(r.stdout, '');
    assert.equal((await stat(join(d, 'cosign.key'))).mode & 0o777, 0o600);
    const keyPem = await readFile(join(d, 'cosign.key'), 'utf8');
    assert.match(keyPem, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    const key = decryptPrivateKey(keyPem, Buffer.from('pw1'));
    const pub = parsePublicKey(await readFile(join(d, 'cosign.pub'), 'utf8'));
    assert.equal(pub.kind, 'ecdsa-p256');
    assert.ok(pub.key.equals(createPublicKey(key)));
    assert.deepEqual((await readdir(d)).sort(), ['cosign.key', 'cosign.pub']);
  });

  test('the empty COSIGN_PASSWORD is used as the password (not a prompt)', async () => {
    const d = await freshDir();
    const r = signet(d, ['generate-key-pair'], { env: { COSIGN_PASSWORD: '' }, input: 'ignored\n' });
    assert.equal(r.code, 0, r.stderr);
    decryptPrivateKey(await readFile(join(d, 'cosign.key'), 'utf8'), new Uint8Array(0));
  });

  test('password from stdin is taken byte for byte, trailing newline included, as cosign does (and says so)', async () => {
    const d = await freshDir();
    const r = signet(d, ['generate-key-pair', '--output-key-prefix', 'release'], { input: 'from stdin\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^Private key written to release\.key\nPublic key written to release\.pub\nNote: the password read from standard input ends in a newline, which is part of the password \(as in cosign\)[^\n]*COSIGN_PASSWORD\)\n$/);
    assert.ok(!r.stderr.includes('from stdin'));
    decryptPrivateKey(await readFile(join(d, 'release.key'), 'utf8'), Buffer.from('from stdin\n'));
    const released = await readFile(join(d, 'release.key'), 'utf8');
    assert.throws(() => decryptPrivateKey(released, Buffer.from('from stdin')));
  });

  test('no terminal, nothing piped, no COSIGN_PASSWORD: the key is made with an empty password, and stderr says so', async () => {
    const d = await freshDir();
    const r = signet(d, ['generate-key-pair'], { input: '' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\nWARNING: cosign\.key is encrypted with an empty password \(standard input is not a terminal and gave no password, and COSIGN_PASSWORD is not set\)/);
    decryptPrivateKey(await readFile(join(d, 'cosign.key'), 'utf8'), new Uint8Array(0));
    const fromEnv = signet(d, ['generate-key-pair', '--output-key-prefix', 'env'], { env: { COSIGN_PASSWORD: '' } });
    assert.match(fromEnv.stderr, /WARNING: env\.key is encrypted with an empty password \(COSIGN_PASSWORD is set to the empty string\)/);
    const withPw = signet(d, ['generate-key-pair', '--output-key-prefix', 'pw'], { input: 'secret' });
    assert.equal(withPw.stderr, 'Private key written to pw.key\nPublic key written to pw.pub\n');
  });

  test('a wrong piped password that ends in a newline: the error says the newline counts and how to avoid it', async () => {
    const d = await freshDir();
    assert.equal(signet(d, ['generate-key-pair'], { input: 'pw' }).code, 0);
    assertOneLineError(
      signet(d, ['public-key', '--key', 'cosign.key'], { input: 'pw\n' }),
      1,
      /cosign\.key: incorrect password.*; the password read from standard input ends in a newline, which is part of the password \(as in cosign\): pipe it without one \(printf '%s' "\$PASSWORD" \| signet …\) or set COSIGN_PASSWORD$/m,
    );
    // No newline, no hint: the password is simply wrong.
    const plain = signet(d, ['public-key', '--key', 'cosign.key'], { input: 'nope' });
    assertOneLineError(plain, 1, /incorrect password/);
    assert.doesNotMatch(plain.stderr, /newline/);
    assert.equal(signet(d, ['public-key', '--key', 'cosign.key'], { input: 'pw' }).code, 0);
  });

  test('existing files: refused without a TTY, kept intact; -y and COSIGN_YES overwrite', async () => {
    const d = await freshDir();
    assert.equal(signet(d, ['generate-key-pair'], { env: { COSIGN_PASSWORD: 'a' } }).code, 0);
    const before = await readFile(join(d, 'cosign.key'), 'utf8');
    const refused = signet(d, ['generate-key-pair'], { env: { COSIGN_PASSWORD: 'b' } });
    assertOneLineError(refused, 2, /cosign\.key already exists.*--yes/);
    assert.equal(await readFile(join(d, 'cosign.key'), 'utf8'), before);

    assert.equal(signet(d, ['generate-key-pair', '-y'], { env: { COSIGN_PASSWORD: 'b' } }).code, 0);
    const second = await readFile(join(d, 'cosign.key'), 'utf8');
    assert.notEqual(second, before);
    decryptPrivateKey(second, Buffer.from('b'));

    assert.equal(signet(d, ['generate-key-pair'], { env: { COSIGN_PASSWORD: 'c', COSIGN_YES: 'true' } }).code, 0);
    decryptPrivateKey(await readFile(join(d, 'cosign.key'), 'utf8'), Buffer.from('c'));
    assert.deepEqual((await readdir(d)).sort(), ['cosign.key', 'cosign.pub']);
  });

  test('remote destinations, and --kms without its plug-in, are refused', async () => {
    const d = await freshDir();
    assertOneLineError(signet(d, ['generate-key-pair', 'k8s://ns/name'], { env: { COSIGN_PASSWORD: 'a' } }), 1, /k8s:\/\/ is not supported/);
    assertOneLineError(signet(d, ['generate-key-pair', 'mykey'], { env: { COSIGN_PASSWORD: 'a' } }), 2, /unexpected argument "mykey".*--output-key-prefix/);
    assertOneLineError(signet(d, ['generate-key-pair', '--kms', 'awskms:///x'], { env: { COSIGN_PASSWORD: 'a' } }), 1, /awskms:\/\/ keys need the KMS plug-in sigstore-kms-awskms on PATH/);
    assert.deepEqual(await readdir(d), []);
  });

  test('unwritable prefix is an IO error', async () => {
    const d = await freshDir();
    assertOneLineError(signet(d, ['generate-key-pair', '--output-key-prefix', 'missing/dir/k'], { env: { COSIGN_PASSWORD: 'a' } }), 1, /missing\/dir\/k\.key/);
  });

  test('--help shows examples for every key command', async () => {
    const d = await freshDir();
    for (const cmd of ['generate-key-pair', 'import-key-pair', 'public-key']) {
      const r = signet(d, [cmd, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`Examples:\\n  signet ${cmd}`));
    }
  });
});

describe('signet import-key-pair', () => {
  test('imports a SEC1 EC key; the result decrypts to the same key', async () => {
    const d = await freshDir();
    await writeFile(join(d, 'ec.pem'), validecp384);
    const r = signet(d, ['import-key-pair', '--key', 'ec.pem'], { env: { COSIGN_PASSWORD: 'imp' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, 'Private key written to import-cosign.key\nPublic key written to import-cosign.pub\n');
    const key = decryptPrivateKey(await readFile(join(d, 'import-cosign.key'), 'utf8'), Buffer.from('imp'));
    assert.ok(key.equals(createPrivateKey(validecp384)));
    assert.equal(parsePublicKey(await readFile(join(d, 'import-cosign.pub'))).kind, 'ecdsa-p384');
  });

  test('-k, -o, -y short flags and PKCS#1 RSA', async () => {
    const d = await freshDir();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await writeFile(join(d, 'rsa.pem'), rsa.export({ type: 'pkcs1', format: 'pem' }));
    await writeFile(join(d, 'mine.key'), 'OLD');
    const r = signet(d, ['import-key-pair', '-k', 'rsa.pem', '-o', 'mine', '-y'], { env: { COSIGN_PASSWORD: 'x' } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(decryptPrivateKey(await readFile(join(d, 'mine.key'), 'utf8'), Buffer.from('x')).equals(rsa));
  });

  test('bad inputs: small RSA, encrypted cosign key, missing file, no --key; nothing written', async () => {
    const d = await freshDir();
    await writeFile(join(d, 'small.pem'), invalidrsasmallkey);
    await writeFile(join(d, 'cosign.key'), pemsigstorekey);
    const env = { COSIGN_PASSWORD: 'x' };
    assertOneLineError(signet(d, ['import-key-pair', '-k', 'small.pem'], { env }), 1, /small\.pem: RSA key size 1024 is not allowed \(2048 to 4096 bits to sign, as in cosign; 2048 to 8192 bits to verify\)/);
    assertOneLineError(signet(d, ['import-key-pair', '-k', 'cosign.key'], { env }), 1, /already in cosign's encrypted format/);
    assertOneLineError(signet(d, ['import-key-pair', '-k', 'absent.pem'], { env }), 1, /cannot read key file absent\.pem: no such file/);
    assertOneLineError(signet(d, ['import-key-pair'], { env }), 2, /needs --key/);
    assert.deepEqual((await readdir(d)).sort(), ['cosign.key', 'small.pem']);
  });
});

test('RSA size errors state the same ranges whether the key is imported or used to verify', async () => {
  const d = await freshDir();
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  await writeFile(join(d, 'small.pem'), small.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  await writeFile(join(d, 'small.pub'), small.publicKey.export({ format: 'pem', type: 'spki' }));
  await writeFile(join(d, 'blob.txt'), 'blob');
  const imported = signet(d, ['import-key-pair', '-k', 'small.pem'], { env: { COSIGN_PASSWORD: 'x' } });
  const verified = signet(d, ['verify-blob', '--key', 'small.pub', '--insecure-ignore-tlog', '--signature', 'AAAAAAAAAAAAAAAAAAAAAAAA', 'blob.txt']);
  for (const r of [imported, verified]) {
    assertOneLineError(r, 1, /RSA key size 1024 is not allowed \(/);
    assert.match(r.stderr, /2048 to 4096 bits to sign/);
    assert.match(r.stderr, /2048 to 8192 bits to verify/);
  }
});

describe('signet public-key', () => {
  test('from an encrypted key (COSIGN_PASSWORD or stdin), a public key, env://, and --outfile', async () => {
    const d = await freshDir();
    await writeFile(join(d, 'cosign.key'), pemsigstorekey);
    const a = signet(d, ['public-key', '--key', 'cosign.key'], { env: { COSIGN_PASSWORD: 'hello' } });
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
    const b = signet(d, ['public-key', '--key', 'cosign.key'], { input: 'hello' });
    assert.equal(b.stdout, a.stdout);
    await writeFile(join(d, 'cosign.pub'), a.stdout);
    assert.equal(signet(d, ['public-key', '--key', 'cosign.pub']).stdout, a.stdout);
    assert.equal(signet(d, ['public-key', '--key', 'env://MY_KEY'], { env: { MY_KEY: pemsigstorekey, COSIGN_PASSWORD: 'hello' } }).stdout, a.stdout);
    // cosign's single-dash long flags and COSIGN_KEY work too.
    assert.equal(signet(d, ['public-key', '-key', 'cosign.pub']).stdout, a.stdout);
    assert.equal(signet(d, ['public-key'], { env: { COSIGN_KEY: 'cosign.pub' } }).stdout, a.stdout);

    const o = signet(d, ['public-key', '--key', 'cosign.key', '--outfile', 'out.pub'], { env: { COSIGN_PASSWORD: 'hello' } });
    assert.equal(o.code, 0, o.stderr);
    assert.equal(o.stdout, '');
    assert.equal(await readFile(join(d, 'out.pub'), 'utf8'), a.stdout);
  });

  test('errors: wrong password, unsupported scheme, missing file, missing --key', async () => {
    const d = await freshDir();
    await writeFile(join(d, 'cosign.key'), pemsigstorekey);
    assertOneLineError(signet(d, ['public-key', '--key', 'cosign.key'], { env: { COSIGN_PASSWORD: 'nope' } }), 1, /cosign\.key: incorrect password/);
    assertOneLineError(signet(d, ['public-key', '--key', 'gcpkms://projects/p/x']), 1, /gcpkms:\/\/ keys need the KMS plug-in sigstore-kms-gcpkms on PATH/);
    assertOneLineError(signet(d, ['public-key', '--key', 'gone.pub']), 1, /gone\.pub: no such file/);
    assertOneLineError(signet(d, ['public-key']), 2, /needs --key/);
  });
});
