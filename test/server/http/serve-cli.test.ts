/** `signet serve` flags: encrypted log keys, and one-line errors with the right exit codes. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { encryptPrivateKey } from '../../../src/keys/index.js';
import { spawnServe } from './spawn.js';

const main = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../../..'), 'dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'signet-serve-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function serve(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [main, 'serve', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr };
}

it('signs with a cosign-encrypted --log-key (COSIGN_PASSWORD) and reports bad settings in one line', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyFile = join(dir, 'cosign.key');
  writeFileSync(keyFile, encryptPrivateKey(privateKey, Buffer.from('pw')));
  const s = await spawnServe(join(dir, 'data'), ['--log-key', keyFile], { ...process.env, COSIGN_PASSWORD: 'pw' });
  try {
    const pem = await (await fetch(s.url + '/api/v1/log/publicKey')).text();
    assert.ok(createPublicKey(pem).export({ format: 'der', type: 'spki' }).equals(publicKey.export({ format: 'der', type: 'spki' })));
  } finally {
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  }
  const wrong = serve(['--data-dir', join(dir, 'd2'), '--log-key', keyFile, '--listen', '127.0.0.1:0'], { COSIGN_PASSWORD: 'nope' });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /^Error: .*cosign\.key: .*password/m);
  const listen = serve(['--data-dir', join(dir, 'd3'), '--listen', 'nope']);
  assert.equal(listen.status, 2);
  assert.equal(listen.stderr, 'Error: --listen "nope" is not HOST:PORT (e.g. 127.0.0.1:3000, [::1]:3000, :3000)\n');
  const noDir = serve([]);
  assert.equal(noDir.status, 2);
  assert.match(noDir.stderr, /serve needs --data-dir DIR/);
  const storage = serve(['--data-dir', join(dir, 'd4'), '--storage', 'mysql://x', '--listen', '127.0.0.1:0']);
  assert.equal(storage.status, 2);
  assert.match(storage.stderr, /unknown log storage/);
});
