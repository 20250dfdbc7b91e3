/**
 * Where a keyless signer gets its OIDC identity token, in cosign's order: the --identity-token flag
 * (a token or a file holding one), SIGSTORE_ID_TOKEN, GitHub Actions' ambient token, then an
 * interactive browser login (authorization code + PKCE with a loopback redirect). Tokens are secrets:
 * no message here ever contains one.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants as fsc, promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, readFileLimited } from '../fsutil.js';
import { httpFetch, inContext, isTimeout, readLimited, type NetOptions } from '../net.js';

/** Discovery documents and token answers are a few KiB; this bounds what a hostile server makes us hold. */
const MAX_ANSWER = 1024 * 1024;

export interface InteractiveLoginOptions {
  /** The OIDC issuer URL (its discovery document is at /.well-known/openid-configuration). */
  issuer: string;
  clientId?: string;
  clientSecret?: string;
  /** cosign's --oidc-redirect-url; default http://localhost:0/auth/callback (0 = any free port). */
  redirectUrl?: string;
  /** Called with the authorization URL; default: xdg-open / open when on PATH. */
  openBrowser?: (url: string) => void | Promise<void>;
  /** Where the "open this URL" message goes; default stderr. */
  log?: (message: string) => void;
  /** How long to wait for the browser to come back; default 5 minutes. */
  timeoutMs?: number;
}

export interface IdentityTokenOptions {
  /** --identity-token: the token itself, or a path to a file holding it. */
  identityToken?: string;
  env?: NodeJS.ProcessEnv;
  /** cosign's --oidc-disable-ambient-providers: skip SIGSTORE_ID_TOKEN and GitHub Actions. */
  disableAmbient?: boolean;
  interactive?: InteractiveLoginOptions;
  /** Bound for each HTTP request (ambient token, discovery, token exchange): headers and body silence; default 30 s. */
  requestTimeoutMs?: number;
  /** Aborts the HTTP requests (not the wait for the browser); default: the one set by withNetOptions, if any. */
  signal?: AbortSignal;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function checkJwtShape(token: string, from: string): string {
  if (!JWT_SHAPE.test(token)) throw new SignetError('USAGE', `the identity token from ${from} is not a JWT`);
  return token;
}

async function fromFlag(value: string): Promise<string> {
  let isFile = false;
  try {
    isFile = (await fs.stat(value)).isFile();
  } catch {
    // Not a file: the value is the token itself.
  }
  if (isFile) {
    const text = (await readFileLimited(value, FILE_LIMITS.small, `identity token file ${value}`)).toString('utf8');
    return checkJwtShape(text.trim(), `file ${value}`);
  }
  if (!JWT_SHAPE.test(value.trim())) {
    // Do not echo the value: it could be a mistyped token.
    throw new SignetError('USAGE', '--identity-token is neither an existing file nor a JWT');
  }
  return value.trim();
}

/** The network options of one token request: `timeoutMs` bounds the headers and each silence of the body. */
function requestNet(timeoutMs: number, signal: AbortSignal | undefined): NetOptions {
  return { timeouts: { headersMs: timeoutMs, bodyIdleMs: timeoutMs }, ...(signal ? { signal } : {}) };
}

async function httpJson(url: string, init: RequestInit, what: string, net: NetOptions): Promise<Record<string, unknown>> {
  let res: Response;
  let text: string;
  try {
    res = await httpFetch(url, { ...init, redirect: 'error' }, net);
    text = (await readLimited(res, MAX_ANSWER, `the answer from ${new URL(url).origin}`)).toString('utf8');
  } catch (e) {
    if (e instanceof SignetError && isTimeout(e)) throw inContext(e, what);
    if (e instanceof SignetError) throw e;
    const why = (e as Error & { cause?: Error })?.cause?.message ?? String(e);
    throw new SignetError('NETWORK', `${what}: cannot reach ${new URL(url).origin}: ${why}`, { cause: e });
  }
  if (!res.ok) {
    let reason = '';
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      const r = j.error_description ?? j.message ?? j.error;
      if (typeof r === 'string') reason = `: ${r.slice(0, 200)}`;
    } catch {
      // Not JSON: the status says enough.
    }
    throw new SignetError('NETWORK', `${what}: HTTP ${res.status}${reason}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new SignetError('MALFORMED', `${what}: the response is not JSON`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SignetError('MALFORMED', `${what}: the response is not a JSON object`);
  return body as Record<string, unknown>;
}

/** GitHub Actions: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=sigstore with the request token as bearer. */
async function fromGitHubActions(url: string, requestToken: string, net: NetOptions): Promise<string> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SignetError('USAGE', 'ACTIONS_ID_TOKEN_REQUEST_URL is not a URL');
  }
  u.searchParams.set('audience', 'sigstore');
  const body = await httpJson(
    u.toString(),
    { headers: { Authorization: `Bearer ${requestToken}`, Accept: 'application/json' } },
    'GitHub Actions OIDC token request',
    net,
  );
  if (typeof body.value !== 'string' || body.value === '') {
    throw new SignetError('MALFORMED', 'GitHub Actions OIDC token request: the response has no "value"');
  }
  return checkJwtShape(body.value, 'GitHub Actions');
}

/** The token in cosign's order; throws USAGE when there is none and no interactive login was offered. */
export async function getIdentityToken(opts: IdentityTokenOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const timeoutMs = opts.requestTimeoutMs ?? 30_000;
  if (opts.identityToken !== undefined && opts.identityToken !== '') return fromFlag(opts.identityToken);
  if (!opts.disableAmbient) {
    const fromEnv = env.SIGSTORE_ID_TOKEN;
    if (fromEnv) return checkJwtShape(fromEnv.trim(), 'SIGSTORE_ID_TOKEN');
    const ghUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL;
    const ghToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
    if (ghUrl && ghToken) return fromGitHubActions(ghUrl, ghToken, requestNet(timeoutMs, opts.signal));
  }
  if (opts.interactive) return interactiveLogin(opts.interactive, timeoutMs, opts.signal);
  throw new SignetError(
    'USAGE',
    'no identity token: pass --identity-token, set SIGSTORE_ID_TOKEN, run in GitHub Actions with id-token: write, or sign interactively',
  );
}

const b64url = (b: Buffer): string => b.toString('base64url');

interface Discovery {
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

async function discover(issuer: string, net: NetOptions): Promise<Discovery> {
  const url = issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration';
  const doc = await httpJson(url, { headers: { Accept: 'application/json' } }, `OIDC discovery for ${issuer}`, net);
  const endpoint = (name: string): string => {
    const v = doc[name];
    if (typeof v !== 'string') {
      // A signet serve --dev-oidc issuer mints tokens on request and has no browser login.
      const server = /\/oidc\/?$/.test(issuer) ? issuer.replace(/\/oidc\/?$/, '') : 'URL';
      const hint = name === 'authorization_endpoint' ? `: it offers no browser login; get a token elsewhere and pass it with --identity-token or SIGSTORE_ID_TOKEN (for signet serve --dev-oidc: signet dev token --server ${server} --email ADDRESS)` : '';
      throw new SignetError('MALFORMED', `OIDC discovery for ${issuer}: no ${name}${hint}`);
    }
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      throw new SignetError('MALFORMED', `OIDC discovery for ${issuer}: ${name} is not a URL`);
    }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u.hostname))) {
      throw new SignetError('MALFORMED', `OIDC discovery for ${issuer}: ${name} must be https`);
    }
    return v;
  };
  if (typeof doc.issuer === 'string' && doc.issuer.replace(/\/+$/, '') !== issuer.replace(/\/+$/, '')) {
    throw new SignetError('VERIFICATION', `OIDC discovery for ${issuer} names a different issuer (${doc.issuer})`);
  }
  return { authorizationEndpoint: endpoint('authorization_endpoint'), tokenEndpoint: endpoint('token_endpoint') };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || host === '::1';
}

/** Decoded (not verified) JWT claims. */
export function decodeJwtClaims(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3 || !JWT_SHAPE.test(token)) throw new SignetError('MALFORMED', 'identity token is not a JWT');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', 'identity token claims are not JSON');
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new SignetError('MALFORMED', 'identity token claims are not a JSON object');
  return claims as Record<string, unknown>;
}

export interface TokenSubject {
  issuer: string;
  subject: string;
  email?: string;
  /** The claim value a CA wants signed as proof of possession. */
  challenge: string;
}

/**
 * The identity claims of a token, decoded without verification (the CA verifies). The challenge is
 * what cosign signs: the `email` claim when the token has one (email issuers, whose challenge claim
 * at the CA is `email`), otherwise `sub` (every other issuer type challenges on `sub`).
 */
export function tokenSubject(token: string): TokenSubject {
  const c = decodeJwtClaims(token);
  if (typeof c.iss !== 'string' || c.iss === '') throw new SignetError('MALFORMED', 'identity token has no "iss" claim');
  const sub = typeof c.sub === 'string' ? c.sub : '';
  const email = typeof c.email === 'string' && c.email !== '' ? c.email : undefined;
  const challenge = email ?? sub;
  if (challenge === '') throw new SignetError('MALFORMED', 'identity token has neither an "email" nor a "sub" claim');
  const out: TokenSubject = { issuer: c.iss, subject: sub, challenge };
  if (email !== undefined) out.email = email;
  return out;
}

function findOnPath(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      // Synchronous probe is fine: it runs once, before waiting minutes for a person.
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

function defaultOpenBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? undefined : 'xdg-open';
  const exe = cmd ? findOnPath(cmd) : undefined;
  if (!exe) return;
  try {
    const child = spawn(exe, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // The URL is printed; opening a browser is a convenience.
  }
}

function page(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`<!doctype html><meta charset="utf-8"><title>Signet</title><p>${text.replace(/[<>&]/g, '')}</p>\n`);
}

/**
 * Authorization code flow with PKCE (S256) and a loopback redirect (RFC 8252): a one-shot listener on
 * 127.0.0.1 receives the code; state and nonce bind the answer to this login.
 */
export async function interactiveLogin(o: InteractiveLoginOptions, requestTimeoutMs = 30_000, signal?: AbortSignal): Promise<string> {
  const net = requestNet(requestTimeoutMs, signal);
  const issuer = o.issuer.replace(/\/+$/, '');
  const clientId = o.clientId ?? 'sigstore';
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const timeoutMs = o.timeoutMs ?? 300_000;
  let redirect: URL;
  try {
    redirect = new URL(o.redirectUrl ?? 'http://localhost:0/auth/callback');
  } catch {
    throw new SignetError('USAGE', `--oidc-redirect-url ${JSON.stringify(o.redirectUrl)} is not a URL`);
  }
  if (redirect.protocol !== 'http:' || !isLoopback(redirect.hostname)) {
    throw new SignetError('USAGE', '--oidc-redirect-url must be an http URL on localhost or 127.0.0.1');
  }
  const disc = await discover(issuer, net);

  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const callbackPath = redirect.pathname || '/auth/callback';

  let settle!: { resolve: (code: string) => void; reject: (e: Error) => void };
  const codePromise = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  // The callback may fail the login while openBrowser is still running; it is awaited below.
  codePromise.catch(() => undefined);
  let done = false;
  const finish = (f: () => void): void => {
    if (done) return;
    done = true;
    f();
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || u.pathname !== callbackPath) return page(res, 404, 'Not found.');
    if (done) return page(res, 410, 'This login has already finished.');
    const p = u.searchParams;
    if (p.get('state') !== state) {
      page(res, 400, 'Login refused: the state does not match this login.');
      return finish(() => settle.reject(new SignetError('VERIFICATION', 'OIDC login refused: the callback state does not match (possible cross-site request)')));
    }
    const err = p.get('error');
    if (err) {
      page(res, 400, 'Login failed. You can close this tab.');
      const desc = (p.get('error_description') ?? '').slice(0, 200);
      return finish(() => settle.reject(new SignetError('VERIFICATION', `OIDC login failed: ${err}${desc ? ': ' + desc : ''}`)));
    }
    const code = p.get('code');
    if (!code) {
      page(res, 400, 'Login failed: no authorization code.');
      return finish(() => settle.reject(new SignetError('MALFORMED', 'OIDC login: the callback carries no authorization code')));
    }
    page(res, 200, 'Signed in. You can close this tab and return to the terminal.');
    finish(() => settle.resolve(code));
  });

  const listenHost = redirect.hostname === '[::1]' ? '::1' : '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new SignetError('IO', `cannot listen for the OIDC redirect on ${listenHost}:${redirect.port || 0}: ${e.message}`)));
    server.listen(Number(redirect.port || 0), listenHost, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  redirect.port = String(port);
  const redirectUri = redirect.toString();

  const auth = new URL(disc.authorizationEndpoint);
  auth.searchParams.set('response_type', 'code');
  auth.searchParams.set('client_id', clientId);
  auth.searchParams.set('redirect_uri', redirectUri);
  auth.searchParams.set('scope', 'openid email');
  auth.searchParams.set('code_challenge', challenge);
  auth.searchParams.set('code_challenge_method', 'S256');
  auth.searchParams.set('state', state);
  auth.searchParams.set('nonce', nonce);

  const timer = setTimeout(
    () => finish(() => settle.reject(new SignetError('NETWORK', `timed out after ${Math.round(timeoutMs / 1000)}s waiting for the browser login at ${issuer}`))),
    timeoutMs,
  );
  try {
    log(`Your browser will now be opened to:\n${auth.toString()}`);
    await (o.openBrowser ?? defaultOpenBrowser)(auth.toString());
    const code = await codePromise;
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: clientId,
      code_verifier: verifier,
    });
    if (o.clientSecret) form.set('client_secret', o.clientSecret);
    const body = await httpJson(
      disc.tokenEndpoint,
      { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, body: form.toString() },
      `OIDC token exchange at ${issuer}`,
      net,
    );
    if (typeof body.id_token !== 'string') throw new SignetError('MALFORMED', `OIDC token exchange at ${issuer}: the response has no id_token`);
    const idToken = checkJwtShape(body.id_token, `the token endpoint of ${issuer}`);
    const claims = decodeJwtClaims(idToken);
    if (claims.nonce !== nonce) throw new SignetError('VERIFICATION', `OIDC login: the ID token from ${issuer} does not carry this login's nonce`);
    if (typeof claims.iss === 'string' && claims.iss.replace(/\/+$/, '') !== issuer) {
      throw new SignetError('VERIFICATION', `OIDC login: the ID token was issued by ${claims.iss}, not ${issuer}`);
    }
    return idToken;
  } finally {
    clearTimeout(timer);
    finish(() => settle.reject(new SignetError('INTERNAL', 'login abandoned')));
    server.closeAllConnections();
    server.close();
  }
}
