/** `signet debug providers` (cosign debug providers): which ambient OIDC providers could give a token, and why not. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { providerStatus } from '../../src/sigstore/identity-token.js';
import { runCli } from '../helpers/cli.js';

const AMBIENT = ['SIGSTORE_ID_TOKEN', 'ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'BUILDKITE_AGENT_ACCESS_TOKEN'];
const none = Object.fromEntries(AMBIENT.map((k) => [k, undefined]));

test('debug providers: each provider in the order asked, enabled or why not; JSON for machines', async () => {
  const off = await runCli(['debug', 'providers'], { env: none });
  assert.equal(off.code, 0, off.stderr);
  assert.equal(
    off.stdout,
    [
      'envvar: false — SIGSTORE_ID_TOKEN is not set',
      'github-actions: false — ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set (give the job "permissions: id-token: write")',
      'buildkite-agent: false — BUILDKITE_AGENT_ACCESS_TOKEN is not set (not in a Buildkite job)',
      'filesystem: false — /var/run/sigstore/cosign/oidc-token does not exist',
      '',
    ].join('\n'),
  );
  const on = await runCli(['debug', 'providers', '--json'], {
    env: { ...none, SIGSTORE_ID_TOKEN: 'a.b.c', ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:1/token', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'secret-request-token' },
  });
  assert.equal(on.code, 0, on.stderr);
  const status = JSON.parse(on.stdout) as { name: string; enabled: boolean; reason?: string }[];
  assert.deepEqual(
    status.map((p) => [p.name, p.enabled]),
    [
      ['envvar', true],
      ['github-actions', true],
      ['buildkite-agent', false],
      ['filesystem', false],
    ],
  );
  assert.doesNotMatch(on.stdout, /a\.b\.c|secret-request-token/, 'no token is printed');
});

test('the filesystem provider is enabled by a token file where it looks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-providers-'));
  try {
    const path = join(dir, 'oidc-token');
    const env = {};
    assert.deepEqual((await providerStatus({ env, filesystemTokenPath: path })).find((p) => p.name === 'filesystem'), { name: 'filesystem', enabled: false, reason: `${path} does not exist` });
    writeFileSync(path, 'a.b.c');
    assert.deepEqual((await providerStatus({ env, filesystemTokenPath: path })).find((p) => p.name === 'filesystem'), { name: 'filesystem', enabled: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('signet debug alone shows its help; an unknown subcommand is exit 2', async () => {
  const r = await runCli(['debug']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Commands:\n {2}providers/);
  const bad = await runCli(['debug', 'nope']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
});
