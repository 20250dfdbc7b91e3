import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createDevIssuer, OidcVerifier, OidcError, type DevIssuer } from '../../../src/server/oidc/index.js';
import { createCa } from '../../../src/server/ca/index.js';
import { isLoopbackAddress } from '../../../src/server/routes.js';
import { isSignetError } from '../../../src/errors.js';
import { runCli } from '../../helpers/cli.js';
import { RouteHost } from './helpers.js';

describe('development OIDC issuer', () => {
  let host: RouteHost;
  let dataDir: string;
  let dev: DevIssuer;
  let verifier: OidcVerifier;

  before(async () => {
    host = await RouteHost.start();
    dataDir = mkdtempSync(join(tmpdir(), 'signet-dev-oidc-'));
    dev = await createDevIssuer({ dataDir, serverUrl: host.url + '/' });
    host.mount(dev.routes);
    verifier = new OidcVerifier({ issuers: [dev.issuerConfig], metaIssuers: [] });
  });
  after(() => host.stop());

  test('its key is created once, private (0600), and reused on restart', async () => {
    const path = join(dataDir, 'oidc', 'dev-oidc-key.pem');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const again = await createDevIssuer({ dataDir, serverUrl: host.url });
    assert.deepEqual(again.jwks(), dev.jwks());
    assert.equal(again.issuerUrl, `${host.url}/oidc`);
  });

  test('a corrupt key file is an error, not silently replaced', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'signet-dev-oidc-bad-'));
    mkdirSync(join(dir, 'oidc'));
    writeFileSync(join(dir, 'oidc', 'dev-oidc-key.pem'), 'garbage');
    await assert.rejects(createDevIssuer({ dataDir: dir, serverUrl: host.url }), (e: unknown) => isSignetError(e, 'KEY_FORMAT'));
  });

  test('minted tokens look like a real email issuer and verify through discovery + JWKS', async () => {
    const t = await dev.mintToken({ email: 'dev@example.com' });
    const c = decodeJwt(t);
    assert.equal(c.iss, `${host.url}/oidc`);
    assert.equal(c.sub, 'dev@example.com');
    assert.equal(c.email, 'dev@example.com');
    assert.equal(c.email_verified, true);
    assert.equal(c.aud, 'sigstore');
    assert.equal(c.exp! - c.iat!, 600);
    assert.equal(c.nbf, c.iat);
    assert.equal(decodeProtectedHeader(t).alg, 'ES256');
    const p = await verifier.verify(t);
    assert.equal(p.subject, 'dev@example.com');
    await assert.rejects(verifier.verify(await dev.mintToken({ email: 'dev@example.com', audience: 'other' })), (e: unknown) => e instanceof OidcError && e.reason === 'wrong_audience');
    await assert.rejects(dev.mintToken({ email: 'not-an-email' }), (e: unknown) => isSignetError(e, 'USAGE'));
    await assert.rejects(dev.mintToken({ email: 'a@b.c', ttlSeconds: 0 }), (e: unknown) => isSignetError(e, 'USAGE'));
  });

  test('POST /oidc/token answers loopback clients only', async () => {
    const post = (body: string): Promise<Response> =>
      fetch(`${host.url}/oidc/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const ok = await post(JSON.stringify({ email: 'loop@example.com' }));
    assert.equal(ok.status, 200);
    const { id_token } = (await ok.json()) as { id_token: string };
    assert.equal((await verifier.verify(id_token)).subject, 'loop@example.com');
    assert.equal((await post('{')).status, 400);
    assert.equal((await post(JSON.stringify({ email: 'x' }))).status, 400);
    // Nothing a certificate cannot carry gets into a token: NUL, control, non-ASCII, two @.
    for (const email of ['a\u0000b@example.com', 'a\u007f@example.com', 'a\tb@example.com', 'jösé@example.com', 'a@b@example.com', 'a@', 42]) {
      const r = await post(JSON.stringify({ email }));
      assert.equal(r.status, 400, JSON.stringify(email));
      assert.match(((await r.json()) as { message: string }).message, /not an email address|must be a string/);
    }
    host.remoteAddressOverride = '192.0.2.7';
    try {
      const r = await post(JSON.stringify({ email: 'loop@example.com' }));
      assert.equal(r.status, 403);
      assert.equal(((await r.json()) as { code: number }).code, 7);
    } finally {
      host.remoteAddressOverride = undefined;
    }
    assert.ok(isLoopbackAddress('::ffff:127.0.0.1'));
    assert.ok(isLoopbackAddress('::1'));
    assert.ok(!isLoopbackAddress('128.0.0.1'));
    assert.ok(!isLoopbackAddress(undefined));
  });

  test('signet dev token prints a token; keyless certificate from it end to end', async () => {
    const r = await runCli(['dev', 'token', '--server', host.url, '--email', 'cli@example.com']);
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    assert.equal(decodeJwt(token).email, 'cli@example.com');
    const ca = await createCa({ dataDir, oidc: verifier });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const out = await ca.issue({ token, publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(), proofOfPossession: sign('sha256', Buffer.from('cli@example.com'), privateKey) });
    assert.equal(new X509Certificate(out.certificate).subjectAltName, 'email:cli@example.com');
  });

  test('signet dev token failures are one clear line', async () => {
    const bad = await runCli(['dev', 'token', '--server', host.url, '--email', 'nope']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not an email address/);
    const none = await RouteHost.start();
    try {
      const r = await runCli(['dev', 'token', '--server', none.url, '--email', 'a@example.com']);
      // Exit 1, not cosign's 11 ("image not found"), with one line that says how to start the issuer.
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `Error: ${none.url} has no development OIDC issuer (POST /oidc/token answered 404): start the server with signet serve --dev-oidc\n`);
    } finally {
      await none.stop();
    }
    const usage = await runCli(['dev', 'token', '--server', 'not a url', '--email', 'a@example.com']);
    assert.equal(usage.code, 2);
  });
});
