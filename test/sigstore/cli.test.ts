/** `signet sign-blob` / `verify-blob` end to end: the built CLI in a child process, real key files. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo } from '../../src/keys/index.js';
import { parseBundle, verifyBundleWithKey } from '../../src/sigstore/index.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
let dir: string;

function run(args: string[], opts: { input?: Buffer | string; env?: Record<string, string | undefined> } = {}) {
  const env: Record<string, string | undefined> = { ...process.env, COSIGN_PASSWORD: 'pw', ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, input: opts.input ?? '', env: env as NodeJS.ProcessEnv, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeKey(name: string, kind: Parameters<typeof generateKeyPair>[0] = 'ecdsa-p256'): void {
  const { privateKey } = generateKeyPair(kind);
  writeFileSync(join(dir, `${name}.key`), encryptPrivateKey(privateKey, Buffer.from('pw'), { N: 32768 }));
  writeFileSync(join(dir, `${name}.pub`), publicKeyInfo(privateKey).pem);
}

const SIGN = ['sign-blob', '--key', 'cosign.key', '--tlog-upload=false'];
const VERIFY = ['verify-blob', '--key', 'cosign.pub', '--insecure-ignore-tlog'];

describe('sign-blob and verify-blob (CLI)', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'signet-blob-'));
    writeKey('cosign');
    writeKey('other');
    writeKey('ed', 'ed25519');
    writeFileSync(join(dir, 'a.txt'), 'hello blob\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('sign with a bundle, verify the file, stdin and the digest', () => {
    const s = run([...SIGN, '--bundle', 'a.sigstore.json', 'a.txt']);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, '');
    assert.match(s.stderr, /Wrote bundle to file a.sigstore.json/);
    const bytes = readFileSync(join(dir, 'a.sigstore.json'));
    const key = publicKeyInfo(generateKeyPair().publicKey);
    assert.throws(() => verifyBundleWithKey(parseBundle(bytes), key, { bytes: Buffer.from('hello blob\n') }));

    const v = run([...VERIFY, '--bundle', 'a.sigstore.json', 'a.txt']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stderr, /Verified OK/);
    assert.match(v.stderr, /WARNING: Skipping tlog verification/);

    assert.equal(run([...VERIFY, '--bundle', 'a.sigstore.json', '-'], { input: 'hello blob\n' }).code, 0);
    const hex = createHash('sha256').update('hello blob\n').digest('hex');
    const d = run([...VERIFY, '--bundle', 'a.sigstore.json', `sha256:${hex}`]);
    assert.equal(d.code, 0, d.stderr);
  });

  test('signing stdin', () => {
    const s = run([...SIGN, '--bundle', 'stdin.json', '-'], { input: 'from stdin' });
    assert.equal(s.code, 0, s.stderr);
    writeFileSync(join(dir, 'stdin.txt'), 'from stdin');
    assert.equal(run([...VERIFY, '--bundle', 'stdin.json', 'stdin.txt']).code, 0);
  });

  test('stdin blob with a password that would also come from stdin is refused', () => {
    const r = run([...SIGN, '--bundle', 'never.json', '-'], { input: 'x', env: { COSIGN_PASSWORD: undefined } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /set the key password in COSIGN_PASSWORD/);
    assert.ok(!existsSync(join(dir, 'never.json')));
  });

  test('Ed25519 keys', () => {
    assert.equal(run(['sign-blob', '--key', 'ed.key', '--tlog-upload=false', '--bundle', 'ed.json', 'a.txt']).code, 0);
    assert.equal(run(['verify-blob', '--key', 'ed.pub', '--insecure-ignore-tlog', '--bundle', 'ed.json', 'a.txt']).code, 0);
    const hex = createHash('sha256').update('hello blob\n').digest('hex');
    const r = run(['verify-blob', '--key', 'ed.pub', '--insecure-ignore-tlog', '--bundle', 'ed.json', `sha256:${hex}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: an Ed25519 signature covers the whole artifact/m);
  });

  test('legacy: signature on stdout, --signature as file or value, legacy --bundle', () => {
    const s = run([...SIGN, '--new-bundle-format=false', 'a.txt']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^[A-Za-z0-9+/]+=*\n$/);
    writeFileSync(join(dir, 'a.sig'), s.stdout);
    assert.equal(run([...VERIFY, '--signature', 'a.sig', 'a.txt']).code, 0);
    assert.equal(run([...VERIFY, '--signature', s.stdout.trim(), 'a.txt']).code, 0);

    const o = run([...SIGN, '--new-bundle-format=false', '--output-signature', 'out.sig', '--bundle', 'legacy.json', 'a.txt']);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(o.stdout, '');
    const legacy = JSON.parse(readFileSync(join(dir, 'legacy.json'), 'utf8'));
    assert.deepEqual(Object.keys(legacy), ['base64Signature', 'cert']);
    assert.equal(legacy.base64Signature, readFileSync(join(dir, 'out.sig'), 'utf8'));
    assert.equal(run([...VERIFY, '--bundle', 'legacy.json', 'a.txt']).code, 0);
    assert.equal(run(['verify-blob', '--key', 'other.pub', '--insecure-ignore-tlog', '--bundle', 'legacy.json', 'a.txt']).code, 1);
  });

  test('--new-bundle-format without --bundle is a usage error, and nothing is written', () => {
    const before = readdirSync(dir).sort();
    const r = run([...SIGN, 'a.txt']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'Error: must specify --bundle with --new-bundle-format\n');
    assert.deepEqual(readdirSync(dir).sort(), before);
  });

  test('signing without saying --tlog-upload=false fails clearly, writing nothing', () => {
    const r = run(['sign-blob', '--key', 'cosign.key', '--bundle', 'x.json', 'a.txt']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no transparency log is configured: pass --tlog-upload=false/);
    assert.ok(!existsSync(join(dir, 'x.json')));
  });

  test('wrong password and missing file write no bundle', () => {
    const w = run([...SIGN, '--bundle', 'y.json', 'a.txt'], { env: { COSIGN_PASSWORD: 'wrong' } });
    assert.notEqual(w.code, 0);
    assert.match(w.stderr, /^Error: /);
    const m = run([...SIGN, '--bundle', 'y.json', 'missing.txt']);
    assert.equal(m.code, 1);
    assert.equal(m.stderr, 'Error: missing.txt: no such file\n');
    assert.ok(!existsSync(join(dir, 'y.json')));
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
  });

  test('verification failures exit 1 with one line', () => {
    run([...SIGN, '--bundle', 'a.sigstore.json', 'a.txt']);
    const one = (r: ReturnType<typeof run>, re: RegExp) => {
      assert.equal(r.code, 1, r.stderr);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error:'));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0]!, re);
      assert.doesNotMatch(r.stderr, /Verified OK/);
    };
    one(run(['verify-blob', '--key', 'other.pub', '--insecure-ignore-tlog', '--bundle', 'a.sigstore.json', 'a.txt']), /signature does not verify with the given key/);
    writeFileSync(join(dir, 'tampered.txt'), 'hello blob!\n');
    one(run([...VERIFY, '--bundle', 'a.sigstore.json', 'tampered.txt']), /artifact digest does not match the bundle/);
    one(run([...VERIFY, '--bundle', 'a.sigstore.json', 'sha256:' + '0'.repeat(64)]), /artifact digest does not match the bundle/);
    writeFileSync(join(dir, 'garbage.json'), 'this is not a bundle');
    one(run([...VERIFY, '--bundle', 'garbage.json', 'a.txt']), /garbage.json is not valid JSON/);
    writeFileSync(join(dir, 'wrongtype.json'), readFileSync(join(dir, 'a.sigstore.json'), 'utf8').replace('bundle.v0.3+json', 'bundle.v9+json'));
    one(run([...VERIFY, '--bundle', 'wrongtype.json', 'a.txt']), /not a supported Sigstore bundle version/);
    one(run([...VERIFY, '--bundle', 'nope.json', 'a.txt']), /bundle nope.json: no such file/);
    one(run([...VERIFY, '--bundle', 'a.sigstore.json', 'missing.txt']), /missing.txt: no such file/);
    one(run(['verify-blob', '--key', 'cosign.pub', '--bundle', 'a.sigstore.json', 'a.txt']), /no transparency log entry to verify; pass --insecure-ignore-tlog/);
    one(run(['verify-blob', '--key', 'missing.pub', '--insecure-ignore-tlog', '--bundle', 'a.sigstore.json', 'a.txt']), /missing\.pub/);
  });

  test('usage errors exit 2', () => {
    assert.equal(run(['verify-blob', '--key', 'cosign.pub', 'a.txt']).code, 2);
    assert.equal(run(['verify-blob', '--bundle', 'a.sigstore.json', 'a.txt']).code, 2);
    assert.equal(run([...VERIFY, '--bundle', 'a.sigstore.json', '--signature', 'a.sig', 'a.txt']).code, 2);
    assert.equal(run([...VERIFY, '--bundle', 'a.sigstore.json']).code, 2);
  });

  test('a bare boolean flag does not swallow the file argument; --flag=false still works', () => {
    run([...SIGN, '--bundle', 'a.sigstore.json', 'a.txt']);
    assert.equal(run(['verify-blob', '--key', 'cosign.pub', '--bundle', 'a.sigstore.json', '--insecure-ignore-tlog', 'a.txt']).code, 0);
    assert.equal(run(['verify-blob', '--key', 'cosign.pub', '--bundle', 'a.sigstore.json', '--insecure-ignore-tlog=false', 'a.txt']).code, 1);
    assert.equal(run(['verify-blob', '--key', 'cosign.pub', '--bundle', 'a.sigstore.json', 'a.txt'], { env: { COSIGN_INSECURE_IGNORE_TLOG: 'true' } }).code, 0);
  });
});
