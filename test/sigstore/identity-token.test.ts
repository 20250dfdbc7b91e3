import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getIdentityToken, tokenSubject, decodeJwtClaims } from '../../src/sigstore/identity-token.js';
import { isSignetError } from '../../src/errors.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: Record<string, unknown>): string => `${b64({ alg: 'ES256', typ: 'JWT' })}.${b64(claims)}.c2ln`;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const close = (s: Server): Promise<void> => new Promise((r) => { s.closeAllConnections(); s.close(() => r()); });

const TOKEN_A = jwt({ iss: 'https://a.example', sub: 'a' });
const TOKEN_B = jwt({ iss: 'https://b.example', sub: 'b' });
const GH_TOKEN = jwt({ iss: 'https://token.actions.githubusercontent.com', sub: 'repo:o/r:ref:refs/heads/main' });

describe('getIdentityToken: source order', () => {
  let gh: Server;
  let ghUrl: string;
  const seen: { auth?: string; audience?: string | null; apiVersion?: string | null }[] = [];
  before(async () => {
    gh = createServer((req, res) => {
      const u = new URL(req.url!, 'http://x');
      seen.push({ auth: req.headers.authorization, audience: u.searchParams.get('audience'), apiVersion: u.searchParams.get('api-version') });
      if (req.headers.authorization !== 'Bearer request-token' || u.searchParams.get('audience') !== 'sigstore') {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"message":"bad credentials"}');
        return;
      }
      if (u.pathname === '/empty') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ value: GH_TOKEN, count: 1 }));
    });
    ghUrl = await listen(gh);
  });
  after(() => close(gh));

  const ghEnv = () => ({ ACTIONS_ID_TOKEN_REQUEST_URL: `${ghUrl}/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-token' });

  it('takes the flag value first', async () => {
    assert.equal(await getIdentityToken({ identityToken: TOKEN_A, env: { SIGSTORE_ID_TOKEN: TOKEN_B, ...ghEnv() } }), TOKEN_A);
  });

  it('reads the flag as a file when it names one (trimming the newline)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idtok-'));
    const f = join(dir, 'token');
    writeFileSync(f, TOKEN_A + '\n');
    assert.equal(await getIdentityToken({ identityToken: f, env: { SIGSTORE_ID_TOKEN: TOKEN_B } }), TOKEN_A);
    writeFileSync(f, 'not a token\n');
    await assert.rejects(getIdentityToken({ identityToken: f, env: {} }), (e) => isSignetError(e, 'USAGE') && /file .* is not a JWT/.test(e.message));
  });

  it('refuses a flag that is neither a file nor a JWT, without echoing it', async () => {
    await assert.rejects(
      getIdentityToken({ identityToken: 'secret-ish value', env: {} }),
      (e) => isSignetError(e, 'USAGE') && /neither an existing file nor a JWT/.test(e.message) && !e.message.includes('secret-ish'),
    );
  });

  it('then SIGSTORE_ID_TOKEN, before GitHub Actions', async () => {
    const before = seen.length;
    assert.equal(await getIdentityToken({ env: { SIGSTORE_ID_TOKEN: TOKEN_B, ...ghEnv() } }), TOKEN_B);
    assert.equal(seen.length, before, 'GitHub endpoint must not be called');
  });

  it('then GitHub Actions: bearer, audience=sigstore, existing query kept', async () => {
    assert.equal(await getIdentityToken({ env: ghEnv() }), GH_TOKEN);
    const last = seen.at(-1)!;
    assert.equal(last.auth, 'Bearer request-token');
    assert.equal(last.audience, 'sigstore');
    assert.equal(last.apiVersion, '2.0');
  });

  it('reports a refused GitHub request without leaking the request token', async () => {
    await assert.rejects(
      getIdentityToken({ env: { ...ghEnv(), ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'wrong-token' } }),
      (e) => isSignetError(e, 'NETWORK') && /HTTP 401: bad credentials/.test(e.message) && !e.message.includes('wrong-token'),
    );
    await assert.rejects(
      getIdentityToken({ env: { ...ghEnv(), ACTIONS_ID_TOKEN_REQUEST_URL: `${ghUrl}/empty?x=1` } }),
      (e) => isSignetError(e, 'MALFORMED') && /no "value"/.test(e.message),
    );
  });

  it('skips ambient sources when disabled, and fails clearly with nothing at all', async () => {
    await assert.rejects(getIdentityToken({ env: { SIGSTORE_ID_TOKEN: TOKEN_B }, disableAmbient: true }), (e) => isSignetError(e, 'USAGE') && /no identity token/.test(e.message));
    await assert.rejects(getIdentityToken({ env: {} }), (e) => isSignetError(e, 'USAGE'));
  });

  it('refuses a malformed SIGSTORE_ID_TOKEN', async () => {
    await assert.rejects(getIdentityToken({ env: { SIGSTORE_ID_TOKEN: 'abc' } }), (e) => isSignetError(e, 'USAGE') && /SIGSTORE_ID_TOKEN is not a JWT/.test(e.message));
  });

  it('reports an unreachable GitHub endpoint as NETWORK', async () => {
    const s = createServer();
    const url = await listen(s);
    await close(s);
    await assert.rejects(
      getIdentityToken({ env: { ACTIONS_ID_TOKEN_REQUEST_URL: `${url}/t?x=1`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'rt' } }),
      (e) => isSignetError(e, 'NETWORK') && /cannot reach/.test(e.message),
    );
  });
});

type Mode = 'ok' | 'wrong-state' | 'wrong-nonce' | 'denied' | 'bad-verifier';

describe('getIdentityToken: interactive PKCE login', () => {
  let provider: Server;
  let issuer: string;
  let mode: Mode = 'ok';
  const pending = new Map<string, { challenge: string; nonce: string; redirectUri: string; clientId: string }>();
  let lastAuth: URLSearchParams | undefined;

  before(async () => {
    provider = createServer((req, res) => {
      const u = new URL(req.url!, issuer);
      if (u.pathname === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return void res.end(JSON.stringify({ issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token` }));
      }
      if (u.pathname === '/authorize') {
        const p = u.searchParams;
        lastAuth = p;
        const redirect = new URL(p.get('redirect_uri')!);
        if (mode === 'denied') {
          redirect.searchParams.set('error', 'access_denied');
          redirect.searchParams.set('state', p.get('state')!);
        } else {
          const code = 'code-' + Math.random().toString(36).slice(2);
          pending.set(code, { challenge: p.get('code_challenge')!, nonce: p.get('nonce')!, redirectUri: p.get('redirect_uri')!, clientId: p.get('client_id')! });
          redirect.searchParams.set('code', code);
          redirect.searchParams.set('state', mode === 'wrong-state' ? 'forged' : p.get('state')!);
        }
        return void res.writeHead(302, { Location: redirect.toString() }).end();
      }
      if (u.pathname === '/token' && req.method === 'POST') {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
          const f = new URLSearchParams(body);
          const p = pending.get(f.get('code') ?? '');
          const verifierOk = p && createHash('sha256').update(f.get('code_verifier') ?? '').digest('base64url') === p.challenge;
          if (!p || !verifierOk || mode === 'bad-verifier' || f.get('redirect_uri') !== p.redirectUri || f.get('client_id') !== p.clientId || f.get('grant_type') !== 'authorization_code') {
            res.writeHead(400, { 'Content-Type': 'application/json' });
            return void res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'PKCE verification failed' }));
          }
          pending.delete(f.get('code')!);
          const nonce = mode === 'wrong-nonce' ? 'other' : p.nonce;
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ access_token: 'at', id_token: jwt({ iss: issuer, sub: 'u1', email: 'me@example.com', aud: 'sigstore', nonce }) }));
        });
        return;
      }
      res.writeHead(404).end();
    });
    issuer = await listen(provider);
  });
  after(() => close(provider));

  /** Plays the browser: follow the authorization URL to the provider, then its redirect to the callback. */
  const browser = (statuses: number[]) => async (url: string): Promise<void> => {
    const r1 = await fetch(url, { redirect: 'manual' });
    const loc = r1.headers.get('location');
    assert.ok(loc, 'provider must redirect');
    const r2 = await fetch(loc);
    statuses.push(r2.status);
    await r2.text();
  };

  it('completes the code flow with PKCE S256, state and nonce', async () => {
    mode = 'ok';
    const statuses: number[] = [];
    const logs: string[] = [];
    const token = await getIdentityToken({ env: {}, interactive: { issuer, openBrowser: browser(statuses), log: (m) => logs.push(m) } });
    assert.equal(decodeJwtClaims(token).email, 'me@example.com');
    assert.deepEqual(statuses, [200]);
    assert.equal(lastAuth!.get('code_challenge_method'), 'S256');
    assert.equal(lastAuth!.get('client_id'), 'sigstore');
    assert.equal(lastAuth!.get('response_type'), 'code');
    assert.match(lastAuth!.get('scope')!, /openid/);
    assert.match(lastAuth!.get('redirect_uri')!, /^http:\/\/localhost:\d+\/auth\/callback$/);
    assert.ok(logs.some((l) => l.includes(`${issuer}/authorize?`)), 'the URL is printed');
    assert.ok(!logs.some((l) => l.includes(token)), 'the token is never printed');
  });

  it('refuses a callback whose state does not match', async () => {
    mode = 'wrong-state';
    const statuses: number[] = [];
    await assert.rejects(
      getIdentityToken({ env: {}, interactive: { issuer, openBrowser: browser(statuses), log: () => undefined } }),
      (e) => isSignetError(e, 'VERIFICATION') && /state does not match/.test(e.message),
    );
    assert.deepEqual(statuses, [400]);
  });

  it('refuses an ID token without this login\'s nonce', async () => {
    mode = 'wrong-nonce';
    await assert.rejects(
      getIdentityToken({ env: {}, interactive: { issuer, openBrowser: browser([]), log: () => undefined } }),
      (e) => isSignetError(e, 'VERIFICATION') && /nonce/.test(e.message),
    );
  });

  it('reports a denied login and a refused code exchange', async () => {
    mode = 'denied';
    await assert.rejects(
      getIdentityToken({ env: {}, interactive: { issuer, openBrowser: browser([]), log: () => undefined } }),
      (e) => isSignetError(e, 'VERIFICATION') && /access_denied/.test(e.message),
    );
    mode = 'bad-verifier';
    await assert.rejects(
      getIdentityToken({ env: {}, interactive: { issuer, openBrowser: browser([]), log: () => undefined } }),
      (e) => isSignetError(e, 'NETWORK') && /HTTP 400: PKCE verification failed/.test(e.message),
    );
  });

  it('times out with a clear error when nobody logs in', async () => {
    mode = 'ok';
    const t0 = Date.now();
    await assert.rejects(
      getIdentityToken({ env: {}, interactive: { issuer, openBrowser: () => undefined, log: () => undefined, timeoutMs: 300 } }),
      (e) => isSignetError(e, 'NETWORK') && /timed out after \d+s waiting for the browser login/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  it('refuses a non-loopback redirect URL and an issuer without discovery', async () => {
    await assert.rejects(
      getIdentityToken({ env: {}, interactive: { issuer, redirectUrl: 'http://example.com/cb', openBrowser: () => undefined } }),
      (e) => isSignetError(e, 'USAGE'),
    );
    await assert.rejects(
      getIdentityToken({ env: {}, interactive: { issuer: `${issuer}/nothing`, openBrowser: () => undefined, log: () => undefined } }),
      (e) => isSignetError(e, 'NETWORK') && /discovery.*HTTP 404/.test(e.message),
    );
  });
});

describe('tokenSubject', () => {
  it('challenges on email when present, else sub', () => {
    assert.deepEqual(tokenSubject(jwt({ iss: 'https://i', sub: 's', email: 'e@x' })), { issuer: 'https://i', subject: 's', email: 'e@x', challenge: 'e@x' });
    assert.equal(tokenSubject(jwt({ iss: 'https://i', sub: 'repo:o/r' })).challenge, 'repo:o/r');
  });
  it('refuses tokens without issuer or subject, and non-JWTs', () => {
    assert.throws(() => tokenSubject(jwt({ sub: 's' })), (e) => isSignetError(e, 'MALFORMED') && /iss/.test(e.message));
    assert.throws(() => tokenSubject(jwt({ iss: 'https://i' })), (e) => isSignetError(e, 'MALFORMED'));
    assert.throws(() => tokenSubject('a.b'), (e) => isSignetError(e, 'MALFORMED'));
    assert.throws(() => tokenSubject(`x.${Buffer.from('[1]').toString('base64url')}.y`), (e) => isSignetError(e, 'MALFORMED'));
    assert.throws(() => tokenSubject('x.bm90IGpzb24.y'), (e) => isSignetError(e, 'MALFORMED'));
  });
});
