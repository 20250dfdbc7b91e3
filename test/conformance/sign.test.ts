/**
 * bin/conformance sign-bundle end to end against a private Sigstore (signet serve --dev-oidc): a blob and
 * an in-toto statement signed keyless, then verify-bundle with the server's trusted root, in the PATH and
 * DIGEST forms; the wrong identity fails.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startServer, type RunningServer } from '../../src/server/serve.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const bin = join(repo, 'bin', 'conformance');
const dir = mkdtempSync(join(tmpdir(), 'signet-conformance-sign-'));
let srv: RunningServer;

before(async () => {
  srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
});
after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Asynchronous: the server runs in this process and must keep answering while the child waits on it. */
function run(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, args, { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('sign-bundle then verify-bundle, blob and in-toto, against signet serve', async () => {
  const token = srv.devIssuer!.mintToken({ email: 'conformance@example.com' });
  const issuer = `${srv.url}/oidc`;
  const signingConfig = srv.signingConfigPath;
  const root = srv.trustedRootPath;

  const blob = join(dir, 'a.txt');
  writeFileSync(blob, 'hello conformance\n');
  const blobBundle = join(dir, 'a.txt.sigstore.json');
  const signed = await run('sign-bundle', '--identity-token', await token, '--bundle', blobBundle, '--signing-config', signingConfig, '--trusted-root', root, blob);
  assert.equal(signed.code, 0, signed.stderr);
  const id = ['--certificate-identity', 'conformance@example.com', '--certificate-oidc-issuer', issuer, '--trusted-root', root];
  assert.equal((await run('verify-bundle', '--bundle', blobBundle, ...id, blob)).code, 0);
  const digest = 'sha256:' + createHash('sha256').update('hello conformance\n').digest('hex');
  assert.equal((await run('verify-bundle', '--bundle', blobBundle, ...id, digest)).code, 0);
  const wrong = await run('verify-bundle', '--bundle', blobBundle, '--certificate-identity', 'mallory@example.com', '--certificate-oidc-issuer', issuer, '--trusted-root', root, blob);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /identity/);

  const subject = createHash('sha256').update('artifact').digest('hex');
  const statement = join(dir, 'statement.json');
  writeFileSync(statement, JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'artifact', digest: { sha256: subject } }], predicateType: 'https://example.com/p', predicate: {} }));
  const dsseBundle = join(dir, 'statement.sigstore.json');
  const signedDsse = await run('sign-bundle', '--in-toto', '--identity-token', await token, '--bundle', dsseBundle, '--signing-config', signingConfig, statement);
  assert.equal(signedDsse.code, 0, signedDsse.stderr);
  assert.equal((await run('verify-bundle', '--bundle', dsseBundle, ...id, `sha256:${subject}`)).code, 0);
  assert.notEqual((await run('verify-bundle', '--bundle', dsseBundle, ...id, 'sha256:' + 'a'.repeat(64))).code, 0);
});
