/**
 * Where a keyless signer gets its OIDC identity token, in cosign's order: the --identity-token flag
 * (a token or a file holding one), then cosign's ambient providers (`envvar`: SIGSTORE_ID_TOKEN,
 * `github-actions`, `buildkite-agent`, `filesystem`: a projected token at
 * /var/run/sigstore/cosign/oidc-token; `--oidc-provider` picks one, `--oidc-disable-ambient-providers`
 * skips them), then an interactive browser login (authorization code + PKCE with a loopback
 * redirect). `--fulcio-auth-flow` chooses a flow instead: `normal` (the browser login), `device`
 * (RFC 8628 device authorization, with PKCE as sigstore's client adds it), `client_credentials`
 * (a confidential client's own token), `token` (a given or ambient token only). Tokens and client
 * secrets are secrets: no message here ever contains one.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants as fsc, promises as fs } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, readFileLimited } from '../fsutil.js';
import { httpFetch, inContext, isTimeout, netOptions, readLimited, sleep, type NetOptions } from '../net.js';

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

/** cosign's ambient token providers that Signet has (`spiffe` needs a Workload API implementation, which Debian lacks). */
export const OIDC_PROVIDERS = ['envvar', 'github-actions', 'buildkite-agent', 'filesystem'] as const;
export type OidcProviderName = (typeof OIDC_PROVIDERS)[number];

/** cosign's --fulcio-auth-flow values. */
export const FULCIO_AUTH_FLOWS = ['normal', 'device', 'token', 'client_credentials'] as const;
export type FulcioAuthFlow = (typeof FULCIO_AUTH_FLOWS)[number];

/** Where cosign's `filesystem` provider reads a token (a Kubernetes projected service-account token, typically). */
export const FILESYSTEM_TOKEN_PATH = '/var/run/sigstore/cosign/oidc-token';

/** The audience cosign asks ambient providers for. */
const PROVIDER_AUDIENCE = 'sigstore';

export interface IdentityTokenOptions {
  /** --identity-token: the token itself, or a path to a file holding it. */
  identityToken?: string;
  env?: NodeJS.ProcessEnv;
  /** cosign's --oidc-disable-ambient-providers: skip every ambient provider. */
  disableAmbient?: boolean;
  /** cosign's --oidc-provider: ask only this ambient provider (an error when it is not available). */
  provider?: string;
  /** cosign's --fulcio-auth-flow; unset: the flag's token, the ambient providers, then `interactive`. */
  authFlow?: string;
  /** The `filesystem` provider's file (cosign's fixed path by default; tests point it elsewhere). */
  filesystemTokenPath?: string;
  /** Offer the browser login when no token is found (a person at a terminal): the issuer and client. */
  interactive?: InteractiveLoginOptions;
  /** The issuer and client for an explicit `normal`, `device` or `client_credentials` flow (default: `interactive`). */
  login?: InteractiveLoginOptions;
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

interface Provider {
  /** Why the provider cannot serve here, or undefined when it can (cosign's Enabled). */
  unavailable(env: NodeJS.ProcessEnv, o: IdentityTokenOptions): Promise<string | undefined>;
  provide(env: NodeJS.ProcessEnv, o: IdentityTokenOptions, net: NetOptions, timeoutMs: number): Promise<string>;
}

const PROVIDERS: Record<OidcProviderName, Provider> = {
  envvar: {
    unavailable: async (env) => (env.SIGSTORE_ID_TOKEN ? undefined : 'SIGSTORE_ID_TOKEN is not set'),
    provide: async (env) => checkJwtShape(env.SIGSTORE_ID_TOKEN!.trim(), 'SIGSTORE_ID_TOKEN'),
  },
  'github-actions': {
    unavailable: async (env) =>
      env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN
        ? undefined
        : 'ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set (give the job "permissions: id-token: write")',
    provide: async (env, _o, net) => fromGitHubActions(env.ACTIONS_ID_TOKEN_REQUEST_URL!, env.ACTIONS_ID_TOKEN_REQUEST_TOKEN!, net),
  },
  'buildkite-agent': {
    unavailable: async (env) => (env.BUILDKITE_AGENT_ACCESS_TOKEN ? undefined : 'BUILDKITE_AGENT_ACCESS_TOKEN is not set (not in a Buildkite job)'),
    provide: async (env, _o, _net, timeoutMs) => fromBuildkiteAgent(env, timeoutMs),
  },
  filesystem: {
    unavailable: async (_env, o) => {
      const path = o.filesystemTokenPath ?? FILESYSTEM_TOKEN_PATH;
      try {
        await fs.stat(path);
        return undefined;
      } catch {
        return `${path} does not exist`;
      }
    },
    provide: async (_env, o) => {
      const path = o.filesystemTokenPath ?? FILESYSTEM_TOKEN_PATH;
      const text = (await readFileLimited(path, FILE_LIMITS.small, `identity token file ${path}`)).toString('utf8');
      return checkJwtShape(text.trim(), `file ${path}`);
    },
  },
};

/**
 * Buildkite: `buildkite-agent oidc request-token --audience sigstore`, the agent's own program interface
 * (it reads BUILDKITE_AGENT_ACCESS_TOKEN, BUILDKITE_JOB_ID and the endpoint from the environment); the
 * token is its standard output.
 */
function fromBuildkiteAgent(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  const exe = findOnPath('buildkite-agent', env.PATH);
  if (!exe) return Promise.reject(new SignetError('USAGE', 'the buildkite-agent provider needs the buildkite-agent program on PATH'));
  return new Promise((resolve, reject) => {
    const child = spawn(exe, ['oidc', 'request-token', '--audience', PROVIDER_AUDIENCE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new SignetError('TIMEOUT', `buildkite-agent oidc request-token did not answer within ${Math.round(timeoutMs / 1000)}s`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > MAX_ANSWER) child.kill('SIGKILL');
      else out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-2000)));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new SignetError('IO', `cannot run buildkite-agent: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (outBytes > MAX_ANSWER) return reject(new SignetError('TOO_LARGE', `buildkite-agent oidc request-token wrote more than ${MAX_ANSWER} bytes`));
      if (code !== 0) {
        const last = err.trim().split('\n').pop()?.slice(0, 200) ?? '';
        return reject(new SignetError('NETWORK', `buildkite-agent oidc request-token failed (${signal ?? `exit ${code}`})${last ? `: ${last}` : ''}`));
      }
      try {
        resolve(checkJwtShape(Buffer.concat(out).toString('utf8').trim(), 'buildkite-agent'));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function checkChoice<T extends string>(value: string, choices: readonly T[], flag: string): T {
  if (!(choices as readonly string[]).includes(value)) throw new SignetError('USAGE', `${flag} "${value}" is not one of ${choices.join(', ')}`);
  return value as T;
}

/** The ambient providers' token: `--oidc-provider`'s, or the first available in cosign's list; undefined if none is. */
async function fromProviders(opts: IdentityTokenOptions, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string | undefined> {
  const net = requestNet(timeoutMs, opts.signal);
  if (opts.provider !== undefined && opts.provider !== '') {
    if (opts.provider === 'spiffe') {
      throw new SignetError('USAGE', '--oidc-provider spiffe is not supported: Signet has no SPIFFE Workload API client; fetch a JWT-SVID (audience sigstore) and pass it with --identity-token');
    }
    const name = checkChoice(opts.provider, OIDC_PROVIDERS, '--oidc-provider');
    const why = await PROVIDERS[name].unavailable(env, opts);
    if (why !== undefined) throw new SignetError('USAGE', `--oidc-provider ${name} is not available here: ${why}`);
    return PROVIDERS[name].provide(env, opts, net, timeoutMs);
  }
  if (opts.disableAmbient) return undefined;
  for (const name of OIDC_PROVIDERS) {
    if ((await PROVIDERS[name].unavailable(env, opts)) === undefined) return PROVIDERS[name].provide(env, opts, net, timeoutMs);
  }
  return undefined;
}

/** Whether each ambient provider, in the order they are asked, could give a token here, and why not (cosign debug providers). */
export async function providerStatus(opts: Pick<IdentityTokenOptions, 'env' | 'filesystemTokenPath'> = {}): Promise<{ name: OidcProviderName; enabled: boolean; reason?: string }[]> {
  const env = opts.env ?? process.env;
  const out: { name: OidcProviderName; enabled: boolean; reason?: string }[] = [];
  for (const name of OIDC_PROVIDERS) {
    const reason = await PROVIDERS[name].unavailable(env, opts);
    out.push(reason === undefined ? { name, enabled: true } : { name, enabled: false, reason });
  }
  return out;
}

/** The token in cosign's order; throws USAGE when there is none and no interactive login was offered. */
export async function getIdentityToken(opts: IdentityTokenOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const timeoutMs = opts.requestTimeoutMs ?? 30_000;
  const flow = opts.authFlow !== undefined && opts.authFlow !== '' ? checkChoice(opts.authFlow, FULCIO_AUTH_FLOWS, '--fulcio-auth-flow') : undefined;
  const hasFlag = opts.identityToken !== undefined && opts.identityToken !== '';
  if (opts.provider && opts.disableAmbient) throw new SignetError('USAGE', '--oidc-provider and --oidc-disable-ambient-providers cannot be used together');
  if (flow !== undefined && flow !== 'token') {
    if (hasFlag) throw new SignetError('USAGE', `--identity-token and --fulcio-auth-flow=${flow} cannot be used together (the token flow uses the given token)`);
    if (opts.provider) throw new SignetError('USAGE', `--oidc-provider and --fulcio-auth-flow=${flow} cannot be used together (the token flow uses the provider's token)`);
    const login = opts.login ?? opts.interactive;
    if (!login) throw new SignetError('USAGE', `--fulcio-auth-flow=${flow} needs an OIDC issuer (--oidc-issuer, or the signing config's)`);
    if (flow === 'normal') return interactiveLogin(login, timeoutMs, opts.signal);
    if (flow === 'device') return deviceLogin(login, timeoutMs, opts.signal);
    return clientCredentialsLogin(login, timeoutMs, opts.signal);
  }
  if (hasFlag) return fromFlag(opts.identityToken!);
  const ambient = await fromProviders(opts, env, timeoutMs);
  if (ambient !== undefined) return ambient;
  if (opts.interactive && flow === undefined) return interactiveLogin(opts.interactive, timeoutMs, opts.signal);
  throw new SignetError(
    'USAGE',
    flow === 'token'
      ? 'no identity token for --fulcio-auth-flow=token: pass --identity-token or run where an ambient provider has one (SIGSTORE_ID_TOKEN, GitHub Actions, Buildkite, /var/run/sigstore/cosign/oidc-token)'
      : 'no identity token: pass --identity-token, set SIGSTORE_ID_TOKEN, run in GitHub Actions with id-token: write (or Buildkite, or with a token at /var/run/sigstore/cosign/oidc-token), or sign interactively',
  );
}

const b64url = (b: Buffer): string => b.toString('base64url');

interface Discovery {
  issuer: string;
  doc: Record<string, unknown>;
}

async function discover(issuer: string, net: NetOptions): Promise<Discovery> {
  const url = issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration';
  const doc = await httpJson(url, { headers: { Accept: 'application/json' } }, `OIDC discovery for ${issuer}`, net);
  if (typeof doc.issuer === 'string' && doc.issuer.replace(/\/+$/, '') !== issuer.replace(/\/+$/, '')) {
    throw new SignetError('VERIFICATION', `OIDC discovery for ${issuer} names a different issuer (${doc.issuer})`);
  }
  return { issuer, doc };
}

/** An endpoint of a discovery document: https, or http on loopback; `hint` follows a missing one. */
function endpoint(d: Discovery, name: string, hint = ''): string {
  const v = d.doc[name];
  if (typeof v !== 'string') throw new SignetError('MALFORMED', `OIDC discovery for ${d.issuer}: no ${name}${hint}`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new SignetError('MALFORMED', `OIDC discovery for ${d.issuer}: ${name} is not a URL`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u.hostname))) {
    throw new SignetError('MALFORMED', `OIDC discovery for ${d.issuer}: ${name} must be https`);
  }
  return v;
}

/** A signet serve --dev-oidc issuer mints tokens on request and has no browser login. */
function noBrowserHint(issuer: string): string {
  const server = /\/oidc\/?$/.test(issuer) ? issuer.replace(/\/oidc\/?$/, '') : 'URL';
  return `: it offers no browser login; get a token elsewhere and pass it with --identity-token or SIGSTORE_ID_TOKEN (for signet serve --dev-oidc: signet dev token --server ${server} --email ADDRESS, or --fulcio-auth-flow=device)`;
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

function findOnPath(cmd: string, path = process.env.PATH): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
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
  const authorizationEndpoint = endpoint(disc, 'authorization_endpoint', noBrowserHint(issuer));
  const tokenEndpoint = endpoint(disc, 'token_endpoint');

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

  const auth = new URL(authorizationEndpoint);
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
      tokenEndpoint,
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

/** A form POST whose 4xx answers are OAuth errors to read (`{"error": …}`), not failures to throw. */
async function postForm(url: string, form: URLSearchParams, what: string, net: NetOptions): Promise<{ status: number; body: Record<string, unknown> }> {
  let res: Response;
  let text: string;
  try {
    res = await httpFetch(url, { method: 'POST', redirect: 'error', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, body: form.toString() }, net);
    text = (await readLimited(res, MAX_ANSWER, `the answer from ${new URL(url).origin}`)).toString('utf8');
  } catch (e) {
    if (e instanceof SignetError && isTimeout(e)) throw inContext(e, what);
    if (e instanceof SignetError) throw e;
    const why = (e as Error & { cause?: Error })?.cause?.message ?? String(e);
    throw new SignetError('NETWORK', `${what}: cannot reach ${new URL(url).origin}: ${why}`, { cause: e });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new SignetError(res.ok ? 'MALFORMED' : 'NETWORK', `${what}: ${res.ok ? 'the response is not JSON' : `HTTP ${res.status}`}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SignetError('MALFORMED', `${what}: the response is not a JSON object`);
  if (!res.ok && res.status !== 400 && res.status !== 401) {
    const b = body as Record<string, unknown>;
    const r = b.error_description ?? b.message ?? b.error;
    throw new SignetError('NETWORK', `${what}: HTTP ${res.status}${typeof r === 'string' ? `: ${r.slice(0, 200)}` : ''}`);
  }
  return { status: res.status, body: body as Record<string, unknown> };
}

function oauthError(body: Record<string, unknown>): string {
  const e = typeof body.error === 'string' ? body.error.slice(0, 100) : 'error';
  const d = typeof body.error_description === 'string' ? `: ${body.error_description.slice(0, 200)}` : '';
  return e + d;
}

/** The ID token of a token endpoint's answer, from the issuer it was asked of. */
function idTokenOf(body: Record<string, unknown>, issuer: string, what: string): string {
  if (typeof body.id_token !== 'string') throw new SignetError('MALFORMED', `${what}: the response has no id_token`);
  const idToken = checkJwtShape(body.id_token, `the token endpoint of ${issuer}`);
  const claims = decodeJwtClaims(idToken);
  if (typeof claims.iss === 'string' && claims.iss.replace(/\/+$/, '') !== issuer.replace(/\/+$/, '')) {
    throw new SignetError('VERIFICATION', `${what}: the ID token was issued by ${claims.iss}, not ${issuer}`);
  }
  return idToken;
}

/**
 * RFC 8628 device authorization: the issuer hands out a user code, a person approves it on any device,
 * and this client polls the token endpoint meanwhile (honouring `interval` and `slow_down`). PKCE is
 * added, as sigstore's client does.
 */
export async function deviceLogin(o: InteractiveLoginOptions, requestTimeoutMs = 30_000, signal?: AbortSignal): Promise<string> {
  const net = requestNet(requestTimeoutMs, signal ?? netOptions().signal);
  const issuer = o.issuer.replace(/\/+$/, '');
  const clientId = o.clientId ?? 'sigstore';
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const disc = await discover(issuer, net);
  const deviceEndpoint = endpoint(disc, 'device_authorization_endpoint', ': the issuer does not offer the device flow');
  const tokenEndpoint = endpoint(disc, 'token_endpoint');
  const verifier = b64url(randomBytes(32));
  const form = new URLSearchParams({ client_id: clientId, scope: 'openid email', code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256' });
  if (o.clientSecret) form.set('client_secret', o.clientSecret);
  const what = `OIDC device authorization at ${issuer}`;
  const start = await postForm(deviceEndpoint, form, what, net);
  if (start.status !== 200) throw new SignetError('VERIFICATION', `${what}: ${oauthError(start.body)}`);
  const { device_code: deviceCode, user_code: userCode, verification_uri: uri, verification_uri_complete: uriComplete } = start.body;
  if (typeof deviceCode !== 'string' || typeof userCode !== 'string' || typeof uri !== 'string') {
    throw new SignetError('MALFORMED', `${what}: the response lacks device_code, user_code or verification_uri`);
  }
  const expiresIn = typeof start.body.expires_in === 'number' && start.body.expires_in > 0 ? start.body.expires_in : 600;
  let interval = typeof start.body.interval === 'number' && start.body.interval > 0 ? start.body.interval : 5;
  log(`Enter the verification code ${userCode} in your browser at: ${uri}` + (typeof uriComplete === 'string' ? `\n(or open ${uriComplete})` : '') + `\nCode will be valid for ${expiresIn} seconds`);
  const deadline = Date.now() + expiresIn * 1000;
  const poll = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode, client_id: clientId, code_verifier: verifier });
  if (o.clientSecret) poll.set('client_secret', o.clientSecret);
  const tokenWhat = `OIDC device token request at ${issuer}`;
  for (;;) {
    await sleep(interval * 1000, net.signal, `waiting for the device login at ${issuer}`);
    const r = await postForm(tokenEndpoint, poll, tokenWhat, net);
    if (r.status === 200) return idTokenOf(r.body, issuer, tokenWhat);
    const err = r.body.error;
    if (err === 'authorization_pending') {
      // keep polling
    } else if (err === 'slow_down') {
      interval += 5;
    } else if (err === 'expired_token') {
      throw new SignetError('VERIFICATION', `OIDC device login at ${issuer}: the code ${userCode} expired before it was approved`);
    } else {
      throw new SignetError('VERIFICATION', `OIDC device login at ${issuer} failed: ${oauthError(r.body)}`);
    }
    if (Date.now() > deadline) throw new SignetError('VERIFICATION', `OIDC device login at ${issuer}: the code ${userCode} expired before it was approved`);
  }
}

/** OAuth client credentials: a confidential client (--oidc-client-id and --oidc-client-secret-file) gets its own ID token. */
export async function clientCredentialsLogin(o: InteractiveLoginOptions, requestTimeoutMs = 30_000, signal?: AbortSignal): Promise<string> {
  if (!o.clientSecret) throw new SignetError('USAGE', '--fulcio-auth-flow=client_credentials needs the client secret (--oidc-client-secret-file)');
  const net = requestNet(requestTimeoutMs, signal ?? netOptions().signal);
  const issuer = o.issuer.replace(/\/+$/, '');
  const clientId = o.clientId ?? 'sigstore';
  const disc = await discover(issuer, net);
  const tokenEndpoint = endpoint(disc, 'token_endpoint');
  const what = `OIDC client credentials request at ${issuer}`;
  const r = await postForm(tokenEndpoint, new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: o.clientSecret, scope: 'openid email' }), what, net);
  if (r.status !== 200) throw new SignetError('VERIFICATION', `${what} refused: ${oauthError(r.body)}`);
  return idTokenOf(r.body, issuer, what);
}
