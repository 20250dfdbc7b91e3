/**
 * cosign's ambient token providers (envvar, github-actions, buildkite-agent — a program written here and
 * put on PATH, since the agent is a program interface —, filesystem) and the explicit auth flows (device
 * and client credentials against the development issuer's grants, token).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientCredentialsLogin, deviceLogin, getIdentityToken } from '../../src/sigstore/identity-token.js';
import { createDevIssuer, type DevIssuer } from '../../src/server/oidc/index.js';
import { isSignetError } from '../../src/errors.js';
import { RouteHost } from '../server/oidc/helpers.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: Record<string, unknown>): string => `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims)}.c2ln`;
const ENV_TOKEN = jwt({ iss: 'https://env.example', sub: 'env' });
const BK_TOKEN = jwt({ iss: 'https://agent.buildkite.com', sub: 'organization:acme:pipeline:app' });
const FS_TOKEN = jwt({ iss: 'https://kubernetes.default.svc', sub: 'system:serviceaccount:ns:sa' });

const dir = mkdtempSync(join(tmpdir(), 'signet-providers-'));
const bin = join(dir, 'bin');
const tokenFile = join(dir, 'oidc-token');
const missingFile = join(dir, 'none');

/** A `buildkite-agent` that answers `oidc request-token --audience sigstore` with BK_TOKEN, and fails otherwise. */
function fakeAgent(behaviour: 'ok' | 'fail' | 'garbage'): void {
  mkdirSync(bin, { recursive: true });
  const body =
    behaviour === 'ok'
      ? `if [ "$*" = "oidc request-token --audience sigstore" ] && [ -n "$BUILDKITE_AGENT_ACCESS_TOKEN" ]; then printf '%s\\n' '${BK_TOKEN}'; else echo "unexpected: $*" >&2; exit 3; fi`
      : behaviour === 'fail'
        ? 'echo "fatal: failed to get OIDC token: 403 Forbidden" >&2; exit 1'
        : 'echo not-a-token';
  writeFileSync(join(bin, 'buildkite-agent'), `#!/bin/sh\n${body}\n`);
  chmodSync(join(bin, 'buildkite-agent'), 0o755);
}

const bkEnv = (): NodeJS.ProcessEnv => ({ BUILDKITE_AGENT_ACCESS_TOKEN: 'agent-secret', PATH: `${bin}:/usr/bin:/bin` });

after(() => rmSync(dir, { recursive: true, force: true }));

describe('ambient providers', () => {
  before(() => writeFileSync(tokenFile, FS_TOKEN + '\n'));

  it('are tried in order: envvar, github-actions, buildkite-agent, filesystem', async () => {
    fakeAgent('ok');
    assert.equal(await getIdentityToken({ env: { SIGSTORE_ID_TOKEN: ENV_TOKEN, ...bkEnv() }, filesystemTokenPath: tokenFile }), ENV_TOKEN);
    assert.equal(await getIdentityToken({ env: bkEnv(), filesystemTokenPath: tokenFile }), BK_TOKEN);
    assert.equal(await getIdentityToken({ env: {}, filesystemTokenPath: tokenFile }), FS_TOKEN);
    await assert.rejects(getIdentityToken({ env: {}, filesystemTokenPath: missingFile }), (e) => isSignetError(e, 'USAGE') && /no identity token/.test(e.message));
  });

  it('--oidc-provider asks only the one named, and says why it is not available', async () => {
    fakeAgent('ok');
    assert.equal(await getIdentityToken({ env: { SIGSTORE_ID_TOKEN: ENV_TOKEN }, provider: 'filesystem', filesystemTokenPath: tokenFile }), FS_TOKEN);
    assert.equal(await getIdentityToken({ env: { SIGSTORE_ID_TOKEN: ENV_TOKEN, ...bkEnv() }, provider: 'buildkite-agent' }), BK_TOKEN);
    assert.equal(await getIdentityToken({ env: { SIGSTORE_ID_TOKEN: ENV_TOKEN }, provider: 'envvar' }), ENV_TOKEN);
    const refused: Array<[Parameters<typeof getIdentityToken>[0], RegExp]> = [
      [{ env: { SIGSTORE_ID_TOKEN: ENV_TOKEN }, provider: 'github-actions' }, /--oidc-provider github-actions is not available here: ACTIONS_ID_TOKEN_REQUEST_URL/],
      [{ env: {}, provider: 'envvar' }, /SIGSTORE_ID_TOKEN is not set/],
      [{ env: {}, provider: 'buildkite-agent' }, /BUILDKITE_AGENT_ACCESS_TOKEN is not set/],
      [{ env: {}, provider: 'filesystem', filesystemTokenPath: missingFile }, /none does not exist/],
      [{ env: {}, provider: 'google' }, /--oidc-provider "google" is not one of envvar, github-actions, buildkite-agent, filesystem/],
      [{ env: {}, provider: 'spiffe' }, /spiffe is not supported/],
      [{ env: {}, provider: 'envvar', disableAmbient: true }, /cannot be used together/],
    ];
    for (const [opts, message] of refused) {
      await assert.rejects(getIdentityToken(opts), (e) => isSignetError(e, 'USAGE') && message.test(e.message), String(message));
    }
  });

  it('--oidc-disable-ambient-providers skips them all; --identity-token still wins', async () => {
    fakeAgent('ok');
    await assert.rejects(getIdentityToken({ env: { SIGSTORE_ID_TOKEN: ENV_TOKEN, ...bkEnv() }, filesystemTokenPath: tokenFile, disableAmbient: true }), (e) => isSignetError(e, 'USAGE'));
    assert.equal(await getIdentityToken({ identityToken: ENV_TOKEN, env: bkEnv(), provider: 'buildkite-agent' }), ENV_TOKEN);
  });

  it('a failing buildkite-agent or one that prints no JWT is one clear line without the secret', async () => {
    fakeAgent('fail');
    await assert.rejects(getIdentityToken({ env: bkEnv() }), (e) => isSignetError(e, 'NETWORK') && /buildkite-agent oidc request-token failed \(exit 1\): fatal: failed to get OIDC token: 403 Forbidden/.test(e.message) && !e.message.includes('agent-secret'));
    fakeAgent('garbage');
    await assert.rejects(getIdentityToken({ env: bkEnv() }), (e) => isSignetError(e, 'USAGE') && /from buildkite-agent is not a JWT/.test(e.message));
    await assert.rejects(getIdentityToken({ env: { BUILDKITE_AGENT_ACCESS_TOKEN: 'x', PATH: join(dir, 'empty') } }), (e) => isSignetError(e, 'USAGE') && /buildkite-agent program on PATH/.test(e.message));
    writeFileSync(join(dir, 'bad-token'), 'not a jwt');
    await assert.rejects(getIdentityToken({ env: {}, filesystemTokenPath: join(dir, 'bad-token') }), (e) => isSignetError(e, 'USAGE') && /bad-token is not a JWT/.test(e.message));
  });
});

describe('auth flows against the development issuer', () => {
  let host: RouteHost;
  let dev: DevIssuer;
  before(async () => {
    host = await RouteHost.start();
    dev = await createDevIssuer({ dataDir: join(dir, 'dev'), serverUrl: host.url });
    host.mount(dev.routes);
    dev.registerClient({ clientId: 'ci-bot', clientSecret: 'correct horse battery', email: 'bot@example.com' });
  });
  after(() => host.stop());
  const claims = (t: string): Record<string, unknown> => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

  it('device: the code is shown, approved by a person (here: the test), and the poll gets the token', async () => {
    const messages: string[] = [];
    const login = deviceLogin({
      issuer: dev.issuerUrl,
      log: (m) => {
        messages.push(m);
        const code = /verification code (\S+) /.exec(m)?.[1];
        assert.ok(code);
        // Approve over HTTP, as `POST /oidc/device` from another terminal would.
        void fetch(`${dev.issuerUrl}/device`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: code.toLowerCase().replace('-', ''), email: 'dev@example.com' }) });
      },
    });
    const token = await login;
    assert.equal(claims(token).email, 'dev@example.com');
    assert.equal(claims(token).iss, dev.issuerUrl);
    assert.match(messages[0]!, new RegExp(`in your browser at: ${dev.issuerUrl}/device`));
  });

  it('device: a code nobody approves is polled until the deadline aborts it', async () => {
    const ac = new AbortController();
    const login = deviceLogin({ issuer: dev.issuerUrl, log: () => setTimeout(() => ac.abort(), 1500) }, 30_000, ac.signal);
    await assert.rejects(login, (e) => isSignetError(e, 'TIMEOUT'));
    assert.equal(dev.approveDevice('BBBB-BBBB', 'a@example.com'), false);
  });

  it('client_credentials: a registered client gets its token; a wrong secret or unknown client is refused', async () => {
    const token = await clientCredentialsLogin({ issuer: dev.issuerUrl, clientId: 'ci-bot', clientSecret: 'correct horse battery' });
    assert.equal(claims(token).email, 'bot@example.com');
    assert.equal(claims(token).aud, 'sigstore');
    await assert.rejects(clientCredentialsLogin({ issuer: dev.issuerUrl, clientId: 'ci-bot', clientSecret: 'wrong secret!' }), (e) => isSignetError(e, 'VERIFICATION') && /invalid_client/.test(e.message) && !e.message.includes('wrong secret'));
    await assert.rejects(clientCredentialsLogin({ issuer: dev.issuerUrl, clientId: 'nobody', clientSecret: 'whatever-it-is' }), (e) => isSignetError(e, 'VERIFICATION'));
    await assert.rejects(clientCredentialsLogin({ issuer: dev.issuerUrl, clientId: 'ci-bot' }), (e) => isSignetError(e, 'USAGE') && /--oidc-client-secret-file/.test(e.message));
  });

  it('getIdentityToken dispatches on --fulcio-auth-flow and refuses contradictions', async () => {
    const login = { issuer: dev.issuerUrl, clientId: 'ci-bot', clientSecret: 'correct horse battery' };
    assert.equal(claims(await getIdentityToken({ env: { SIGSTORE_ID_TOKEN: ENV_TOKEN }, authFlow: 'client_credentials', login })).email, 'bot@example.com');
    assert.equal(await getIdentityToken({ env: { SIGSTORE_ID_TOKEN: ENV_TOKEN }, authFlow: 'token', login }), ENV_TOKEN);
    await assert.rejects(getIdentityToken({ env: {}, authFlow: 'token', login, filesystemTokenPath: missingFile }), (e) => isSignetError(e, 'USAGE') && /--fulcio-auth-flow=token/.test(e.message));
    await assert.rejects(getIdentityToken({ env: {}, authFlow: 'device', identityToken: ENV_TOKEN, login }), (e) => isSignetError(e, 'USAGE') && /cannot be used together/.test(e.message));
    await assert.rejects(getIdentityToken({ env: {}, authFlow: 'password', login }), (e) => isSignetError(e, 'USAGE') && /not one of normal, device, token, client_credentials/.test(e.message));
    await assert.rejects(getIdentityToken({ env: {}, authFlow: 'device' }), (e) => isSignetError(e, 'USAGE') && /needs an OIDC issuer/.test(e.message));
  });

  it('the grants are refused to non-loopback peers and with bad parameters', async () => {
    const form = (path: string, body: Record<string, string>) =>
      fetch(`${dev.issuerUrl}/${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });
    assert.equal((await form('token', { grant_type: 'password', username: 'a', password: 'b' })).status, 400);
    assert.equal(((await (await form('token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'nope', client_id: 'sigstore' })).json()) as { error: string }).error, 'invalid_grant');
    assert.equal((await form('device_authorization', {})).status, 400);
    host.remoteAddressOverride = '192.0.2.9';
    try {
      assert.equal((await form('device_authorization', { client_id: 'sigstore' })).status, 403);
      assert.equal((await form('token', { grant_type: 'client_credentials', client_id: 'ci-bot', client_secret: 'correct horse battery' })).status, 403);
      const approve = await fetch(`${dev.issuerUrl}/device`, { method: 'POST', body: JSON.stringify({ user_code: 'BBBB-BBBB', email: 'a@example.com' }) });
      assert.equal(approve.status, 403);
      const register = await fetch(`${dev.issuerUrl}/clients`, { method: 'POST', body: JSON.stringify({ client_id: 'x', client_secret: 'yyyyyyyy', email: 'a@example.com' }) });
      assert.equal(register.status, 403);
    } finally {
      host.remoteAddressOverride = undefined;
    }
  });
});
