/**
 * The HTTP layer under the registry client: scheme selection (https, with Docker's plain-http fallback
 * for loopback and insecure registries), the /v2/ ping and its auth challenge, Basic and Bearer token
 * auth with per-repository scopes and a token cache, retries with backoff, and registry error bodies
 * turned into one-line SignetErrors. Built on global fetch: its default dispatcher already pools
 * keep-alive connections, so the undici package (~110 modules, a large share of the CLI's cold start)
 * is imported only when TLS needs custom settings (--allow-insecure-registry, --registry-cacert).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as tlsConnect, createSecureContext, rootCertificates, type ConnectionOptions } from 'node:tls';
import type { Agent } from 'undici';
import { SignetError, type ErrorCode } from '../errors.js';
import { VERSION } from '../version.js';
import { resolveCredentials, type Credentials, type ExplicitCredentials } from './auth.js';
import { defaultsToPlainHttp } from './reference.js';
import type { WireTarget } from './wire.js';
import { CONNECT_TIMEOUT_MS, errorCode, httpFetch, isTimeout, netOptions, readLimited, sleep, type HttpTimeouts } from '../net.js';

export interface RetryOptions {
  /** Extra attempts after the first. */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { retries: 4, minDelayMs: 200, maxDelayMs: 10_000 };

export interface TransportOptions extends ExplicitCredentials {
  /** Skip TLS verification, and allow plain http. */
  insecure?: boolean;
  /** Allow plain http (https is still tried first). */
  allowHttp?: boolean;
  /** PEM file with CA certificates to trust in addition to the system roots. */
  caCertFile?: string;
  /** Mutual TLS: PEM client certificate (chain) presented to the registry; needs clientKeyFile. */
  clientCertFile?: string;
  /** Mutual TLS: PEM private key of clientCertFile. */
  clientKeyFile?: string;
  /** TLS server name (SNI, and the name the certificate is checked against) instead of the registry host. */
  serverName?: string;
  retry?: Partial<RetryOptions>;
  /** Aborts every request (a deadline); default: the one set by withNetOptions, if any. */
  signal?: AbortSignal;
  timeouts?: Partial<HttpTimeouts>;
}

export interface RegistryRequest {
  registry: string;
  method: string;
  /** A path starting with /v2/, or an absolute URL on the registry (upload Locations). */
  path: string;
  headers?: Record<string, string>;
  /**
   * A Buffer, or a stream sent as it is read (chunked, no Content-Length). A streamed body can be sent
   * once: such a request is not retried here (the caller starts the upload over if it wants to).
   */
  body?: Buffer | ReadableStream<Uint8Array>;
  /** Token scopes, e.g. `repository:app:pull`. */
  scopes: string[];
  /** Statuses handed back to the caller; others throw. Default: any 2xx. */
  accept?: (status: number) => boolean;
}

interface Challenge {
  scheme: 'basic' | 'bearer' | 'none';
  params: Record<string, string>;
}

interface Endpoint {
  base: string; // https://host or http://host
  challenge: Challenge;
}

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);
const CERT_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME_MISMATCH/;
const USER_AGENT = `signet/${VERSION}`;
const ERROR_BODY_LIMIT = 64 * 1024;

/** An HTTP answer from a registry that was not what the request expected. */
export class RegistryHttpError extends SignetError {
  readonly status: number;
  readonly registryCodes: string[];
  constructor(code: ErrorCode, message: string, status: number, registryCodes: string[]) {
    super(code, message);
    this.status = status;
    this.registryCodes = registryCodes;
  }
}

/**
 * Failures worth another attempt: the connection was refused, reset or dropped, or DNS failed for the
 * moment. Not: timeouts (the wait would repeat), TLS failures, redirect loops, malformed answers.
 */
const RETRY_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

function retryable(e: unknown): boolean {
  return !isTimeout(e) && RETRY_CODES.has(errorCode(e));
}

/** undici's "other side closed": what a TLS 1.3 server's refusal of the client certificate looks like to fetch (a reset during the handshake is ECONNRESET, and not probed). */
const SOCKET_CLOSED = /^UND_ERR_SOCKET$/;
const PEM_CERT = /-----BEGIN CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

/** The server refused our client certificate, or its absence (OpenSSL's names for TLS alerts 42, 43, 46, 48, 116; they differ between OpenSSL versions). */
const CLIENT_CERT_ERRORS = /^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE)$/;

/** The TLS handshake met a server speaking plain HTTP (OpenSSL's errors for an HTTP answer to a ClientHello). */
const PLAIN_HTTP_ERRORS = /ERR_SSL_(PACKET_LENGTH_TOO_LONG|WRONG_VERSION_NUMBER|HTTP_REQUEST)/;

function networkMessage(e: unknown): string {
  let cur: unknown = e;
  let last = String(e);
  for (let i = 0; i < 5 && cur; i++) {
    if (cur instanceof Error) last = cur.message;
    cur = (cur as { cause?: unknown }).cause;
  }
  return last.replace(/\s+/g, ' ');
}

/** The URL for messages: no query string (upload URLs carry long opaque state). */
function displayUrl(url: string): string {
  const q = url.indexOf('?');
  return q >= 0 ? url.slice(0, q) : url;
}

function oneLine(s: string, max = 200): string {
  const t = s.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return t.length > max ? t.slice(0, max) + '…' : t;
}

/** Parse `Bearer realm="…",service="…",scope="…"` (quoted or bare values, commas inside quotes). */
export function parseChallenge(header: string | null): Challenge {
  if (!header) return { scheme: 'none', params: {} };
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return { scheme: 'none', params: {} };
  const scheme = m[1]!.toLowerCase();
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!)) !== null) {
    if (p[0] === '') break;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  if (scheme === 'basic') return { scheme: 'basic', params };
  if (scheme === 'bearer') return { scheme: 'bearer', params };
  return { scheme: 'none', params };
}

function parseRetryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}

export class Transport {
  private readonly opts: TransportOptions;
  private readonly retry: RetryOptions;
  /** TLS settings global fetch cannot take; undefined on the default path. */
  private readonly connect: Record<string, unknown> | undefined;
  private dispatcher: Promise<Agent> | undefined;
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  private readonly credentials = new Map<string, Promise<Credentials>>();
  private readonly tokens = new Map<string, Promise<{ token: string; expiresAt: number }>>();
  /** How many token requests went out; tests use it to see that tokens are reused. */
  tokenRequests = 0;

  constructor(opts: TransportOptions = {}) {
    this.opts = opts;
    this.retry = { ...DEFAULT_RETRY, ...(opts.retry ?? {}) };
    const connect: Record<string, unknown> = {};
    if (opts.insecure) connect.rejectUnauthorized = false;
    const readPem = (file: string, what: string, label: RegExp): string => {
      let pem: string;
      try {
        pem = readFileSync(file, 'utf8');
      } catch (e) {
        throw new SignetError('IO', `cannot read ${what} ${file}: ${(e as Error).message}`);
      }
      if (!label.test(pem)) throw new SignetError('MALFORMED', `${what} ${file} holds no PEM ${label === PEM_CERT ? 'certificate' : 'private key'}`);
      return pem;
    };
    if (opts.caCertFile) connect.ca = [...rootCertificates, readPem(opts.caCertFile, 'registry CA file', PEM_CERT)];
    if ((opts.clientCertFile === undefined) !== (opts.clientKeyFile === undefined)) {
      throw new SignetError('USAGE', '--registry-client-cert and --registry-client-key go together: give both or neither');
    }
    if (opts.clientCertFile && opts.clientKeyFile) {
      const cert = readPem(opts.clientCertFile, 'registry client certificate', PEM_CERT);
      const key = readPem(opts.clientKeyFile, 'registry client key', PEM_KEY);
      try {
        createSecureContext({ cert, key });
      } catch (e) {
        throw new SignetError('KEY_FORMAT', `registry client key ${opts.clientKeyFile} does not fit certificate ${opts.clientCertFile} (or is encrypted): ${(e as Error).message}`);
      }
      connect.cert = cert;
      connect.key = key;
    }
    if (opts.serverName) connect.servername = opts.serverName;
    this.connect = Object.keys(connect).length > 0 ? connect : undefined;
  }

  async close(): Promise<void> {
    const d = this.dispatcher;
    this.dispatcher = undefined;
    if (d) await (await d).close();
  }

  /** The request options that route through the custom-TLS Agent, or none for global fetch's own pool. */
  private async fetchOptions(): Promise<{ dispatcher?: Agent }> {
    const connect = this.connect;
    if (!connect) return {};
    this.dispatcher ??= import('undici').then(
      ({ Agent }) => new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: 64, connectTimeout: CONNECT_TIMEOUT_MS, connect }),
    );
    return { dispatcher: await this.dispatcher };
  }

  /**
   * One fetch with retries on 429/5xx answers and on dropped or refused connections. Timeouts, TLS
   * failures and redirect loops fail at once: another attempt would meet the same wall.
   */
  private async fetchWithRetry(url: string, init: RequestInit, method: string, attempts = this.retry.retries): Promise<Response> {
    const net = { signal: this.opts.signal, timeouts: this.opts.timeouts };
    const { signal } = netOptions(net);
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await httpFetch(url, { ...init, method, redirect: 'follow', ...(await this.fetchOptions()) }, net);
      } catch (e) {
        if (isTimeout(e)) throw e;
        const code = errorCode(e);
        if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
          const name = this.opts.serverName ?? new URL(url).hostname;
          throw new SignetError(
            'NETWORK',
            `${method} ${displayUrl(url)}: the registry's TLS certificate does not name ${name} (${code})${this.opts.serverName ? '; check --registry-server-name' : '; pass --registry-server-name with a name it holds'}`,
            { cause: e },
          );
        }
        if (CERT_ERRORS.test(code)) {
          throw new SignetError(
            'NETWORK',
            `${method} ${displayUrl(url)}: TLS certificate not trusted (${code}); pass --registry-cacert or --allow-insecure-registry`,
            { cause: e },
          );
        }
        // Over TLS 1.3 a refused client certificate reaches fetch as a closed socket; a bare handshake tells.
        const alert = CLIENT_CERT_ERRORS.test(code) ? code : url.startsWith('https:') && SOCKET_CLOSED.test(code) ? await this.clientCertAlert(url) : undefined;
        if (alert) {
          throw new SignetError(
            'REGISTRY_AUTH',
            this.opts.clientCertFile
              ? `${method} ${displayUrl(url)}: the registry refused the TLS client certificate ${this.opts.clientCertFile} (${alert}); check --registry-client-cert / --registry-client-key`
              : `${method} ${displayUrl(url)}: the registry requires a TLS client certificate (${alert}); pass --registry-client-cert and --registry-client-key`,
            { cause: e },
          );
        }
        if (PLAIN_HTTP_ERRORS.test(code) && url.startsWith('https:')) {
          throw new SignetError(
            'NETWORK',
            `${method} ${displayUrl(url)}: the registry ${new URL(url).host} does not speak TLS (it answered like a plain-HTTP server, ${code}); if it is a plain-HTTP registry, pass --allow-http-registry`,
            { cause: e },
          );
        }
        if (attempt >= attempts || !retryable(e)) {
          throw new SignetError('NETWORK', `${method} ${displayUrl(url)}: ${networkMessage(e)}${code ? ` (${code})` : ''}`, { cause: e });
        }
        await sleep(this.backoff(attempt), signal, `waiting to retry ${method} ${displayUrl(url)}`);
        continue;
      }
      if (RETRY_STATUSES.has(res.status) && attempt < attempts) {
        const after = parseRetryAfter(res.headers.get('retry-after'));
        await discard(res);
        await sleep(Math.min(Math.max(this.backoff(attempt), after ?? 0), this.retry.maxDelayMs), signal, `waiting to retry ${method} ${displayUrl(url)}`);
        continue;
      }
      return res;
    }
  }

  /**
   * A bare TLS handshake with this transport's settings, to learn whether the server refuses our client
   * certificate (or its absence): the alert code, or undefined for any other outcome (5 s at most).
   */
  private clientCertAlert(url: string): Promise<string | undefined> {
    const u = new URL(url);
    return new Promise((resolve) => {
      let done = false;
      const finish = (v: string | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(v);
      };
      const host = u.hostname.replace(/^\[|\]$/g, '');
      const socket = tlsConnect({ host, port: Number(u.port || 443), ...(isIP(host) ? {} : { servername: host }), ...(this.connect ?? {}) } as ConnectionOptions);
      const timer = setTimeout(() => finish(undefined), 5_000);
      socket.on('error', (e: NodeJS.ErrnoException) => finish(CLIENT_CERT_ERRORS.test(e.code ?? '') ? e.code : undefined));
      socket.on('close', () => finish(undefined));
      socket.on('data', () => finish(undefined));
    });
  }

  /** Exponential backoff with full jitter between minDelay·2^n/2 and minDelay·2^n. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.retry.maxDelayMs, this.retry.minDelayMs * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private endpoint(registry: string): Promise<Endpoint> {
    let p = this.endpoints.get(registry);
    if (!p) {
      p = this.ping(registry);
      this.endpoints.set(registry, p);
      p.catch(() => this.endpoints.delete(registry));
    }
    return p;
  }

  /**
   * GET /v2/ to pick the scheme and learn the auth challenge. https first; plain http only when
   * allowed (insecure, allowHttp, or by go-containerregistry's rule: loopback, *.local, RFC 1918
   * addresses) and the server does not speak TLS.
   */
  private async ping(registry: string): Promise<Endpoint> {
    const mayUseHttp = !!(this.opts.insecure || this.opts.allowHttp || defaultsToPlainHttp(registry));
    const headers = { 'user-agent': USER_AGENT };
    let res: Response;
    let base = `https://${registry}`;
    try {
      res = await this.fetchWithRetry(`${base}/v2/`, { headers }, 'GET', mayUseHttp ? 0 : this.retry.retries);
    } catch (e) {
      const code = errorCode((e as SignetError).cause);
      // Plain http only for a server that failed TLS outright; not after a timeout or a certificate problem.
      if (!mayUseHttp || isTimeout(e) || CERT_ERRORS.test(code) || (e as SignetError).code === 'REGISTRY_AUTH' || /certificate not trusted/.test((e as Error).message)) throw e;
      base = `http://${registry}`;
      try {
        res = await this.fetchWithRetry(`${base}/v2/`, { headers }, 'GET');
      } catch (e2) {
        throw new SignetError('NETWORK', `cannot reach registry ${registry} over https (${networkMessage((e as SignetError).cause ?? e)}) or http (${networkMessage((e2 as SignetError).cause ?? e2)})`, { cause: e2 });
      }
    }
    await discard(res);
    if (res.status === 401) return { base, challenge: parseChallenge(res.headers.get('www-authenticate')) };
    return { base, challenge: { scheme: 'none', params: {} } };
  }

  private creds(registry: string): Promise<Credentials> {
    let p = this.credentials.get(registry);
    if (!p) {
      p = resolveCredentials(registry, this.opts);
      this.credentials.set(registry, p);
      p.catch(() => this.credentials.delete(registry));
    }
    return p;
  }

  private async authorization(registry: string, challenge: Challenge, scopes: string[]): Promise<string | undefined> {
    const creds = await this.creds(registry);
    if (creds.kind === 'token') return `Bearer ${creds.token}`;
    if (challenge.scheme === 'basic') {
      if (creds.kind === 'basic') return 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
      return undefined;
    }
    if (challenge.scheme === 'bearer') return `Bearer ${await this.bearerToken(registry, challenge, scopes, creds)}`;
    return undefined;
  }

  private tokenKey(registry: string, scopes: string[]): string {
    return `${registry} ${[...new Set(scopes)].sort().join(' ')}`;
  }

  private cachedToken(key: string): Promise<{ token: string; expiresAt: number }> | undefined {
    return this.tokens.get(key);
  }

  private async bearerToken(registry: string, challenge: Challenge, scopes: string[], creds: Credentials): Promise<string> {
    const key = this.tokenKey(registry, scopes);
    const candidates = [key];
    // A pull,push token also serves a pull of the same repository.
    if (scopes.length === 1 && scopes[0]!.endsWith(':pull')) candidates.push(this.tokenKey(registry, [scopes[0]! + ',push']));
    for (const k of candidates) {
      const hit = this.cachedToken(k);
      if (hit) {
        try {
          const t = await hit;
          if (t.expiresAt > Date.now()) return t.token;
        } catch {
          // a failed fetch is retried below
        }
        if (this.tokens.get(k) === hit) this.tokens.delete(k);
      }
    }
    const p = this.fetchToken(registry, challenge, scopes, creds);
    this.tokens.set(key, p);
    p.catch(() => {
      if (this.tokens.get(key) === p) this.tokens.delete(key);
    });
    return (await p).token;
  }

  private async fetchToken(registry: string, challenge: Challenge, scopes: string[], creds: Credentials): Promise<{ token: string; expiresAt: number }> {
    const realm = challenge.params.realm;
    if (!realm || !/^https?:\/\//i.test(realm)) throw new SignetError('REGISTRY_AUTH', `registry ${registry} asked for a bearer token without a usable realm`);
    const url = new URL(realm);
    const service = challenge.params.service;
    this.tokenRequests++;
    let res: Response;
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    if (creds.kind === 'identity') {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'signet' });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      headers['content-type'] = 'application/x-www-form-urlencoded';
      res = await this.fetchWithRetry(url.toString(), { headers, body: form.toString() }, 'POST');
    } else {
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds.kind === 'basic') headers.authorization = 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
      res = await this.fetchWithRetry(url.toString(), { headers }, 'GET');
    }
    const shown = `${creds.kind === 'identity' ? 'POST' : 'GET'} ${displayUrl(url.toString())}`;
    if (res.status === 401 || res.status === 403) {
      await discard(res);
      throw new RegistryHttpError(
        'REGISTRY_AUTH',
        `${shown}: ${res.status} the token server refused ${creds.kind === 'anonymous' ? 'anonymous access' : 'the credentials'} for ${registry}`,
        res.status,
        [],
      );
    }
    const body = await readLimited(res, 1024 * 1024, `token response from ${displayUrl(url.toString())}`);
    if (res.status < 200 || res.status >= 300) {
      throw new RegistryHttpError('REGISTRY_AUTH', `${shown}: ${res.status} token request failed: ${oneLine(body.toString('utf8'), 120)}`, res.status, []);
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new SignetError('MALFORMED', `${shown}: the token response is not JSON`);
    }
    const token = typeof doc?.token === 'string' && doc.token ? doc.token : typeof doc?.access_token === 'string' ? doc.access_token : '';
    if (!token) throw new SignetError('MALFORMED', `${shown}: the token response has no token`);
    const lifetime = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : 60;
    // Renew a little early so a token never expires between our check and the registry's.
    const expiresAt = Date.now() + lifetime * 1000 - Math.min(30_000, (lifetime * 1000) / 4);
    return { token, expiresAt };
  }

  /**
   * Send one request to a registry. Returns the Response (body unread) when its status is accepted;
   * otherwise throws a RegistryHttpError describing the registry's answer.
   */
  async request(req: RegistryRequest): Promise<Response> {
    const ep = await this.endpoint(req.registry);
    const url = /^https?:\/\//i.test(req.path) ? req.path : ep.base + req.path;
    let challenge = ep.challenge;
    const accept = req.accept ?? ((s: number) => s >= 200 && s < 300);
    for (let authAttempt = 0; ; authAttempt++) {
      const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...(req.headers ?? {}) };
      // Registry credentials only go to the registry itself, never to a host an upload Location names.
      const sameOrigin = new URL(url).origin === new URL(ep.base).origin;
      const auth = sameOrigin ? await this.authorization(req.registry, challenge, req.scopes) : undefined;
      if (auth) headers.authorization = auth;
      const init: RequestInit = { headers };
      if (req.body !== undefined) init.body = req.body;
      const streamed = req.body instanceof ReadableStream;
      const res = await this.fetchWithRetry(url, init, req.method, streamed ? 0 : this.retry.retries);
      if (res.status === 401 && authAttempt === 0 && !streamed) {
        // The token may have expired or lacked a scope, or the challenge changed: learn and try once more.
        const fresh = parseChallenge(res.headers.get('www-authenticate'));
        if (fresh.scheme !== 'none') {
          challenge = { scheme: fresh.scheme, params: { ...fresh.params } };
          // Remember it: some registries answer /v2/ anonymously but guard repositories.
          if (ep.challenge.scheme === 'none') ep.challenge = { scheme: fresh.scheme, params: { realm: fresh.params.realm ?? '', service: fresh.params.service ?? '' } };
        }
        this.tokens.delete(this.tokenKey(req.registry, req.scopes));
        if (challenge.scheme !== 'none' && (await this.creds(req.registry)).kind !== 'token') {
          await discard(res);
          continue;
        }
      }
      if (accept(res.status)) return res;
      throw await this.errorFor(req.method, url, res, req.registry);
    }
  }

  /**
   * A request prepared for the raw data path (`wire.ts`): its URL on the registry's scheme, its headers
   * with the credentials (same origin only, as `request` sends them), TLS settings, timeouts and the
   * signal. Undefined when requests must go through fetch: an HTTP proxy is configured for it.
   */
  async wireTarget(req: Omit<RegistryRequest, 'body' | 'accept'>): Promise<WireTarget | undefined> {
    const envProxy = !!process.env.NODE_USE_ENV_PROXY || process.execArgv.includes('--use-env-proxy') || /--use-env-proxy/.test(process.env.NODE_OPTIONS ?? '');
    if (envProxy && /\S/.test(`${process.env.HTTPS_PROXY ?? ''}${process.env.https_proxy ?? ''}${process.env.HTTP_PROXY ?? ''}${process.env.http_proxy ?? ''}`)) return undefined;
    const ep = await this.endpoint(req.registry);
    const url = /^https?:\/\//i.test(req.path) ? req.path : ep.base + req.path;
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...(req.headers ?? {}) };
    const auth = new URL(url).origin === new URL(ep.base).origin ? await this.authorization(req.registry, ep.challenge, req.scopes) : undefined;
    if (auth) headers.authorization = auth;
    const { signal, timeouts } = netOptions({ signal: this.opts.signal, timeouts: this.opts.timeouts });
    return { url, headers, tls: this.connect, timeouts, signal };
  }

  /** Turn a registry error answer into one line: `GET https://…: 404 MANIFEST_UNKNOWN manifest unknown`. */
  async errorFor(method: string, url: string, res: Response, registry: string): Promise<RegistryHttpError> {
    let text = '';
    try {
      text = (await readLimited(res, ERROR_BODY_LIMIT, 'error body')).toString('utf8');
    } catch {
      text = '';
    }
    const codes: string[] = [];
    let detail = '';
    try {
      const doc = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
      if (Array.isArray(doc?.errors)) {
        detail = doc.errors
          .map((e) => {
            const c = typeof e?.code === 'string' ? e.code : '';
            if (c) codes.push(c);
            return [c, typeof e?.message === 'string' ? e.message : ''].filter(Boolean).join(' ');
          })
          .filter(Boolean)
          .join('; ');
      }
    } catch {
      // not a registry error document
    }
    if (!detail) detail = text.trim() ? `${res.statusText || 'error'} (unexpected body: ${oneLine(text, 80)})` : res.statusText || 'no details';
    let code: ErrorCode = 'REGISTRY';
    if (res.status === 401 || res.status === 403 || codes.includes('UNAUTHORIZED') || codes.includes('DENIED')) code = 'REGISTRY_AUTH';
    else if (res.status === 404) code = 'NOT_FOUND';
    let message = `${method} ${displayUrl(url)}: ${res.status} ${oneLine(detail)}`;
    if (code === 'REGISTRY_AUTH') {
      const creds = await this.creds(registry).catch(() => undefined);
      if (creds?.kind === 'anonymous') message += ' (no credentials for this registry: use signet login or --registry-username)';
    }
    return new RegistryHttpError(code, message, res.status, codes);
  }
}
