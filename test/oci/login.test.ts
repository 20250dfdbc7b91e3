/** `signet login` through the real CLI entry point. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

function signet(args: string[], env: Record<string, string>, input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, input, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('signet login writes the Docker config and says where', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-login-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'keep.example': { auth: 'YTpi' } } }));
    const r = signet(['login', 'localhost:5000', '-u', 'alice', '--password-stdin'], { DOCKER_CONFIG: dir }, 's3cret\n');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`credentials stored in ${join(dir, 'config.json')}`));
    assert.ok(!r.stderr.includes('s3cret') && !r.stdout.includes('s3cret'));
    const doc = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(Buffer.from(doc.auths['localhost:5000'].auth, 'base64').toString(), 'alice:s3cret');
    assert.equal(doc.auths['keep.example'].auth, 'YTpi');
    assert.equal(statSync(join(dir, 'config.json')).mode & 0o777, 0o600);

    const p = signet(['login', '-u', 'bob', '-p', 'pw'], { DOCKER_CONFIG: dir });
    assert.equal(p.status, 0, p.stderr);
    assert.ok(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).auths['https://index.docker.io/v1/']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('signet login refuses incomplete or contradictory input with usage errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-login-'));
  try {
    const cases: Array<[string[], string | undefined, RegExp]> = [
      [['login', 'r.example', '-p', 'x'], undefined, /username/],
      [['login', 'r.example', '-u', 'a'], undefined, /password/],
      [['login', 'r.example', '-u', 'a', '-p', 'x', '--password-stdin'], 'y', /cannot be used together/],
      [['login', 'r.example', '-u', 'a', '--password-stdin'], '', /password/],
      [['login', 'not a host!', '-u', 'a', '-p', 'x'], undefined, /not a registry server/],
    ];
    for (const [args, input, why] of cases) {
      const r = signet(args, { DOCKER_CONFIG: dir }, input);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why);
    }
    assert.throws(() => statSync(join(dir, 'config.json')), 'nothing written on failure');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
