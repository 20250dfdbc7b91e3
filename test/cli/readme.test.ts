/**
 * The README's "Using it" blocks (those after a `<!-- readme-test -->` marker) run as written in bash,
 * against the real docker-registry and a real `signet serve` they start themselves, with `signet` on PATH
 * the way the README says to put it there. Two substitutions only: the value of `IMAGE` and the port.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { RegistryClient } from '../../src/oci/index.js';
import { freePort, pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MARKER = '<!-- readme-test -->';

/** The shell blocks that follow the marker, in order. */
export function readmeBlocks(markdown: string): string[] {
  const blocks: string[] = [];
  const re = new RegExp(`${MARKER}\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\`\\n`, 'g');
  for (const m of markdown.matchAll(re)) blocks.push(m[1]!);
  return blocks;
}

let reg: RunningRegistry;
let client: RegistryClient;
const dir = mkdtempSync(join(tmpdir(), 'signet-readme-'));

before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({});
});
after(async () => {
  await client.close();
  await reg.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the README\'s "Using it" blocks run as written', async () => {
  const markdown = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = readmeBlocks(markdown);
  assert.ok(blocks.length >= 2, `expected the marked blocks in README.md, found ${blocks.length}`);
  assert.equal(readmeBlocks(markdown.replaceAll(MARKER, '')).length, 0);

  const repo = { registry: reg.host, repository: 'readme/app' };
  await pushRandomImage(client, repo, 'v1');
  const port = await freePort();
  let script = blocks.join('\n');
  assert.equal(script.match(/^IMAGE=.*$/gm)?.length, 1, 'one IMAGE= line at the top');
  assert.ok(script.startsWith('IMAGE='), 'IMAGE is set first');
  script = script.replace(/^IMAGE=.*$/m, `IMAGE=${repo.registry}/${repo.repository}:v1`);
  assert.ok(script.includes('127.0.0.1:3000'));
  script = script.replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`);

  // set -e so that every command must succeed, not only the last; the trap stops serve if one fails.
  const harness = `set -euo pipefail\ntrap 'if [ -n "\${SERVE_PID:-}" ]; then kill "$SERVE_PID" 2>/dev/null || true; fi' EXIT\n${script}`;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('COSIGN_') && !k.startsWith('SIGNET_') && !k.startsWith('SIGSTORE_') && !k.startsWith('ACTIONS_ID_TOKEN')) env[k] = v;
  }
  env.PATH = `${join(ROOT, 'bin')}:${process.env.PATH ?? ''}`;
  env.HOME = join(dir, 'home');
  const child = spawn('bash', ['-c', harness], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 240_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  const serveLog = existsSync(join(dir, 'serve.log')) ? readFileSync(join(dir, 'serve.log'), 'utf8') : '(no serve.log)';
  const report = `exit ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}\n--- serve.log\n${serveLog}`;
  assert.equal(code, 0, report);

  // Both verifications printed their JSON; the blob verified; the key was encrypted with the password.
  const verified = stdout.split('\n').filter((l) => l.startsWith('[{'));
  assert.equal(verified.length, 2, report);
  assert.match(stderr, /^Verified OK$/m, report);
  assert.match(stderr, /^tlog entry created with index: \d+$/m, report);
  // serve's request log went to serve.log, not into the terminal.
  assert.match(serveLog, /^Listening on http:\/\/127\.0\.0\.1:\d+$/m);
  assert.match(serveLog, /"method":"POST"/, serveLog);
  assert.doesNotMatch(stdout + stderr, /"method":"POST"/);
  assert.ok(existsSync(join(dir, 'cosign.key')) && existsSync(join(dir, 'file.sigstore.json')));
});
