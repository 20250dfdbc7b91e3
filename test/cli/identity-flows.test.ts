/**
 * Keyless identities end to end through the CLI against a real `signet serve --dev-oidc`: the device
 * flow (a person approves the printed code), client credentials (a registered confidential client and
 * its secret file), and the Buildkite ambient provider (a `buildkite-agent` program written here, whose
 * token comes from the development Buildkite issuer) — each signature verified under the identity its
 * certificate names.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { MAIN, runCli, type CliResult } from '../helpers/cli.js';

let srv: RunningServer;
const dir = mkdtempSync(join(tmpdir(), 'signet-identity-flows-'));
const bin = join(dir, 'bin');
/** No ambient token may leak in from the machine running the tests. */
const env: Record<string, string | undefined> = {
  SIGNET_HOME: join(dir, 'home'),
  SIGSTORE_ID_TOKEN: undefined,
  ACTIONS_ID_TOKEN_REQUEST_URL: undefined,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: undefined,
  BUILDKITE_AGENT_ACCESS_TOKEN: undefined,
};
let n = 0;
const file = (name: string, content?: string): string => {
  const p = join(dir, `${++n}-${name}`);
  if (content !== undefined) writeFileSync(p, content);
  return p;
};

before(async () => {
  srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
});
after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

const signArgs = (bundle: string, artifact: string, extra: string[]): string[] => ['sign-blob', '--signing-config', srv.signingConfigPath, '--bundle', bundle, ...extra, artifact];

async function verifyAs(bundle: string, artifact: string, identity: string, issuer: string): Promise<CliResult> {
  return runCli(['verify-blob', '--trusted-root', srv.trustedRootPath, '--insecure-ignore-sct', '--certificate-identity', identity, '--certificate-oidc-issuer', issuer, '--bundle', bundle, artifact], { env });
}

/** Run the CLI, calling `onStderr` with everything written to stderr so far as it arrives. */
function runWatching(args: string[], onStderr: (soFar: string) => void): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
    const child = spawn(process.execPath, [MAIN, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr(stderr);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('keyless auth flows and providers through the CLI', () => {
  test('--fulcio-auth-flow=device: the code is printed, approved at the issuer, and the signature names the approver', async () => {
    const artifact = file('device.txt', `device flow ${Date.now()}\n`);
    const bundle = file('device.bundle');
    let approved: Promise<Response> | undefined;
    const r = await runWatching(signArgs(bundle, artifact, ['--fulcio-auth-flow', 'device']), (soFar) => {
      const code = /Enter the verification code (\S+) in your browser at: (\S+)/.exec(soFar);
      if (code && !approved) {
        approved = fetch(code[2]!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: code[1], email: 'device-user@example.com' }) });
      }
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(approved, 'the code was printed');
    assert.equal((await approved).status, 200);
    assert.match(r.stderr, /Signing as device-user@example.com/);
    const v = await verifyAs(bundle, artifact, 'device-user@example.com', srv.url + '/oidc');
    assert.equal(v.code, 0, v.stderr);
  });

  test('--fulcio-auth-flow=client_credentials with --oidc-client-id and --oidc-client-secret-file', async () => {
    const reg = await fetch(srv.url + '/oidc/clients', { method: 'POST', body: JSON.stringify({ client_id: 'release-bot', client_secret: 'a long enough secret', email: 'release-bot@example.com' }) });
    assert.equal(reg.status, 200);
    const artifact = file('cc.txt', `client credentials ${Date.now()}\n`);
    const bundle = file('cc.bundle');
    const secret = file('secret', 'a long enough secret\n');
    const flags = ['--fulcio-auth-flow', 'client_credentials', '--oidc-client-id', 'release-bot', '--oidc-client-secret-file', secret];
    const r = await runCli(signArgs(bundle, artifact, flags), { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await verifyAs(bundle, artifact, 'release-bot@example.com', srv.url + '/oidc')).code, 0);

    const wrong = await runCli(signArgs(file('x.bundle'), artifact, [...flags.slice(0, 4), '--oidc-client-secret-file', file('wrong', 'not the secret')]), { env });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^Error: OIDC client credentials request at .* refused: invalid_client/m);
    assert.doesNotMatch(wrong.stderr, /not the secret/);
    const missing = await runCli(signArgs(file('y.bundle'), artifact, [...flags.slice(0, 4), '--oidc-client-secret-file', join(dir, 'absent')]), { env });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: OIDC client secret file .*absent/m);
  });

  test('the buildkite-agent provider: a Buildkite token gives a certificate for https://buildkite.com/ORG/PIPELINE', async () => {
    const minted = await fetch(srv.url + '/oidc/token', {
      method: 'POST',
      body: JSON.stringify({ kind: 'buildkite', claims: { sub: 'organization:acme:pipeline:app:ref:refs/heads/main', organization_slug: 'acme', pipeline_slug: 'app' } }),
    });
    const token = ((await minted.json()) as { id_token: string }).id_token;
    mkdirSync(bin, { recursive: true });
    const agent = join(bin, 'buildkite-agent');
    writeFileSync(agent, `#!/bin/sh\n[ "$*" = "oidc request-token --audience sigstore" ] || { echo "unexpected arguments: $*" >&2; exit 2; }\nprintf '%s\\n' '${token}'\n`);
    chmodSync(agent, 0o755);
    const artifact = file('bk.txt', `buildkite ${Date.now()}\n`);
    const bundle = file('bk.bundle');
    const bkEnv = { ...env, BUILDKITE_AGENT_ACCESS_TOKEN: 'agent-token', PATH: `${bin}:${process.env.PATH}` };
    const r = await runCli(signArgs(bundle, artifact, []), { env: bkEnv });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Signing as https:\/\/buildkite\.com\/acme\/app \(issuer .*\/oidc\/buildkite\)/);
    assert.equal((await verifyAs(bundle, artifact, 'https://buildkite.com/acme/app', srv.url + '/oidc/buildkite')).code, 0);
    assert.notEqual((await verifyAs(bundle, artifact, 'https://buildkite.com/acme/other', srv.url + '/oidc/buildkite')).code, 0);
    const cert = JSON.parse(readFileSync(bundle, 'utf8')).verificationMaterial.certificate.rawBytes as string;
    assert.ok(cert.length > 0);

    // --oidc-disable-ambient-providers: the same environment yields no token for a script.
    const off = await runCli(signArgs(file('off.bundle'), artifact, ['--oidc-disable-ambient-providers']), { env: bkEnv });
    assert.equal(off.code, 2);
    assert.match(off.stderr, /^Error: no identity token/m);
  });

  test('usage errors are one line with exit 2', async () => {
    const artifact = file('u.txt', 'u\n');
    const cases: Array<[string[], RegExp]> = [
      [['--oidc-provider', 'github-actions'], /--oidc-provider github-actions is not available here/],
      [['--oidc-provider', 'spiffe'], /spiffe is not supported/],
      [['--fulcio-auth-flow', 'magic'], /--fulcio-auth-flow "magic" is not one of normal, device, token, client_credentials/],
      [['--fulcio-auth-flow', 'token'], /no identity token for --fulcio-auth-flow=token/],
      [['--fulcio-auth-flow', 'client_credentials'], /needs the client secret \(--oidc-client-secret-file\)/],
      [['--fulcio-auth-flow', 'normal', '--oidc-redirect-url', 'https://example.com/cb'], /--oidc-redirect-url must be an http URL on localhost/],
    ];
    // The development issuer has no browser login: an explicit normal flow says what to do instead.
    const normal = await runCli(signArgs(file('n.bundle'), artifact, ['--fulcio-auth-flow', 'normal']), { env });
    assert.equal(normal.code, 1);
    assert.match(normal.stderr, /^Error: OIDC discovery for .*\/oidc: no authorization_endpoint: it offers no browser login; .*--fulcio-auth-flow=device\)$/m);
    for (const [flags, message] of cases) {
      const r = await runCli(signArgs(file('u.bundle'), artifact, flags), { env });
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error: '));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0]!, message);
    }
  });
});
