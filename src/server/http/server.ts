/**
 * The HTTP server: plain node:http (keep-alive, header/request timeouts checked every second, a cap on
 * open connections), request bodies bounded while they are read, JSON errors in Rekor's shape, one
 * JSON log line per request on stderr, /metrics.
 */
import { type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerOptions, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { SignetError } from '../../errors.js';
import { HttpError, type Reply, type RequestContext, Router, statusForError } from './router.js';
import { Metrics } from './metrics.js';
import {
  CONNECTIONS_CHECKING_INTERVAL_MS,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  defaultMaxConnections,
  descriptorLimit,
} from './limits.js';

export interface HttpServerOptions {
  router: Router;
  metrics?: Metrics;
  /** Largest request body in bytes (default 4 MiB, as rekor-tiles). */
  maxBodyBytes?: number;
  /** Where request log lines go; false for none. Default: process.stderr. */
  log?: { write(line: string): unknown } | false;
  /**
   * Requests wait for this before routing: the server can listen (and so learn its port, which the
   * services' URLs contain) before the services behind it exist. A rejection answers 503.
   */
  ready?: Promise<void>;
  /**
   * Most connections open at once; more are closed as soon as they are accepted, so the descriptors
   * left keep serving the connections already open. Default: from the descriptor limit (limits.ts).
   */
  maxConnections?: number;
  /** Header, whole-request and keep-alive idle timeouts (defaults in limits.ts). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /**
   * The URL this server is reached at, for URLs in answers (a write's Location). Default: the address
   * the connection came in on. Never the request's Host header, which the client chooses.
   */
  publicUrl?: () => string | undefined;
  /** Serve HTTPS with this certificate and key (node:https; `setSecureContext` swaps them later). */
  tls?: SecureContextOptions;
}

export const DEFAULT_MAX_BODY = 4 * 1024 * 1024;

/**
 * A request target that is a path of letters, digits, `/`, `-` and `_` only, not starting `//` (which the URL
 * parser reads as a host): no query, no percent-encoding, no dot segments, nothing the parser would change.
 * Such a target is its own decoded path.
 */
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9/_-]*$/;

/** Reads at most `limit` bytes; a larger body is drained (up to a bound) and answered with 413. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`, { connection: 'close' }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (over) {
        // Draining lets the client read our 413 instead of seeing a reset; past a bound we give up.
        if (size > limit * 4) req.destroy();
        return;
      }
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) reject(new HttpError(413, `request body exceeds the limit of ${limit} bytes`, { connection: 'close' }));
      else resolve(Buffer.concat(chunks, size));
    });
    req.on('error', reject);
    req.on('aborted', () => reject(new HttpError(499, 'client closed the request')));
  });
}

function send(res: ServerResponse, reply: Reply, head: boolean): void {
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  // Text stays a string: node:http then sends status line, headers and body in one write, with no
  // Buffer made for the body (every write answer is a few KB of JSON).
  let body: Buffer | string;
  if (reply.body === undefined || reply.body === null) body = '';
  else if (Buffer.isBuffer(reply.body) || typeof reply.body === 'string') body = reply.body;
  else {
    body = JSON.stringify(reply.body);
    headers['content-type'] ??= 'application/json';
  }
  headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length);
  res.writeHead(reply.status, headers);
  if (head) res.end();
  else res.end(body, 'utf8');
}

export function errorReply(status: number, message: string, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: Buffer.from(JSON.stringify({ code: status, message })) };
}

let isoMs = -1;
let isoText = '';
/** `new Date().toISOString()`, made once per millisecond: a busy server logs several requests in each. */
function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = new Date(now).toISOString();
  }
  return isoText;
}

/**
 * Request log lines gathered per turn of the event loop and written with one call: stderr on a pipe is
 * a synchronous write(2) per call, which at thousands of requests per second was a visible share of the
 * event loop. A line waits at most until the next turn; lines of errors are written at once.
 */
function batchedSink(sink: { write(line: string): unknown }): { write(line: string): void; flush(): void } {
  let pending = '';
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const out = pending;
    pending = '';
    sink.write(out);
  };
  return {
    write(line) {
      pending += line;
      if (pending.length >= 64 * 1024) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

export function createHttpServer(opts: HttpServerOptions): Server {
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const metrics = opts.metrics ?? new Metrics();
  const rawSink = opts.log === undefined ? process.stderr : opts.log;
  const logSink = rawSink ? batchedSink(rawSink) : false;
  opts.router.add('GET', '/metrics', '/metrics', () => ({
    status: 200,
    headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
    body: metrics.render(),
  }));

  const headersTimeout = opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeout = Math.max(headersTimeout, opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const serverOptions: ServerOptions = {
    keepAlive: true,
    headersTimeout,
    requestTimeout,
    // Node checks both timeouts only this often (30 s by default), so a timeout is enforced that late.
    connectionsCheckingInterval: Math.min(CONNECTIONS_CHECKING_INTERVAL_MS, Math.max(100, Math.floor(headersTimeout / 4))),
  };
  // Fast routes are taken once the services are ready (before that every request waits in the general path).
  let ready = opts.ready === undefined;
  opts.ready?.then(
    () => (ready = true),
    () => undefined,
  );
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const start = process.hrtime.bigint();
    const method = req.method ?? 'GET';
    let routeName = 'unmatched';
    let pathForLog = '';
    /** The answer to a handler's error; a 500's cause goes to the operator's log, never to the client. */
    const failed = (e: unknown): Reply => {
      const { status, message, headers } = statusForError(e);
      if (status === 500 && logSink) {
        // One line, no stack, no request data.
        logSink.write(JSON.stringify({ time: new Date().toISOString(), level: 'error', route: routeName, error: e instanceof Error ? e.message.split('\n')[0] : String(e) }) + '\n');
        logSink.flush();
      }
      return errorReply(status, message, headers);
    };
    const finish = (reply: Reply): void => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      try {
        send(res, reply, method === 'HEAD');
      } catch {
        res.destroy();
      }
      metrics.request(method, routeName, reply.status, ms);
      if (logSink) {
        // JSON.stringify's output for {time, method, path, route, status, ms}, without the object.
        logSink.write(
          `{"time":"${isoNow()}","method":${JSON.stringify(method)},"path":${JSON.stringify(pathForLog)},"route":${JSON.stringify(routeName)},"status":${reply.status},"ms":${Math.round(ms * 100) / 100}}\n`,
        );
      }
    };
    if (ready && (method === 'GET' || method === 'HEAD')) {
      // A fast route (tiles): no URL object, no decoding, no route table; errors, metrics and the log
      // line as on the general path.
      const target = req.url ?? '/';
      const fast = opts.router.fast(target);
      if (fast) {
        routeName = fast.route.name;
        pathForLog = target.slice(0, 300);
        let r: Reply | Promise<Reply> | undefined;
        try {
          r = fast.route.handler(fast.rest);
        } catch (e) {
          r = failed(e);
        }
        if (r instanceof Promise) {
          void r.then(finish, (e: unknown) => finish(failed(e)));
          return;
        }
        if (r !== undefined) {
          finish(r);
          return;
        }
        routeName = 'unmatched';
        pathForLog = '';
      }
    }
    void (async (): Promise<Reply> => {
      if (opts.ready) {
        try {
          await opts.ready;
        } catch {
          return errorReply(503, 'the server is not ready');
        }
      }
      const target = req.url ?? '/';
      let url: URL | undefined;
      let path: string;
      if (PLAIN_PATH.test(target)) {
        // A plain path (every write's): the URL parser would give it back unchanged, so it is parsed
        // only should a handler ask for ctx.url.
        path = target;
        pathForLog = target.slice(0, 300);
      } else {
        try {
          url = new URL(target, 'http://localhost');
        } catch {
          return errorReply(400, 'request target is not a valid URL');
        }
        try {
          path = decodeURIComponent(url.pathname);
        } catch {
          return errorReply(400, 'request path is not valid percent-encoding');
        }
        pathForLog = url.pathname.slice(0, 300);
      }
      const m = opts.router.match(method, path);
      if (!m.route) {
        if (m.otherMethods.length > 0) return errorReply(405, `method ${method} is not allowed here`, { allow: [...new Set(m.otherMethods)].join(', ') });
        return errorReply(404, `no such resource: ${pathForLog}`);
      }
      routeName = m.route.name;
      const ctx = new Context(req, method, target, url, path, m.params, opts.publicUrl?.() || localUrl(req), limit);
      try {
        return await m.route.handler(ctx);
      } catch (e) {
        return failed(e);
      }
    })().then(finish, () => finish(errorReply(500, 'internal server error')));
  };
  // An https.Server is a tls.Server, not an http.Server, but it has the same request-side API.
  const server = opts.tls ? (createHttpsServer({ ...serverOptions, ...opts.tls }, handler) as unknown as Server) : createServer(serverOptions, handler);
  server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
  const maxConnections = opts.maxConnections ?? defaultMaxConnections(descriptorLimit());
  server.maxConnections = maxConnections;
  // node:net closes a connection over the cap right after accepting it and emits 'drop'. Counted, and
  // said in the log at most once every 10 s (a flood must not become a flood of log lines).
  let refused = 0;
  let refusedSinceNote = 0;
  let lastNote = 0;
  server.on('drop', () => {
    refused++;
    refusedSinceNote++;
    const now = Date.now();
    if (logSink && now - lastNote >= 10_000) {
      logSink.write(
        JSON.stringify({ time: new Date(now).toISOString(), level: 'warn', message: `connection limit of ${maxConnections} reached: closed ${refusedSinceNote} new connection(s)` }) + '\n',
      );
      lastNote = now;
      refusedSinceNote = 0;
    }
  });
  metrics.addGauge({ name: 'signet_http_connections_refused_total', help: 'Connections closed on arrival because the connection limit was reached.', type: 'counter', value: () => refused });
  if (logSink) server.on('close', () => logSink.flush());
  return server;
}

/**
 * A request's context for its handler. A class, its URL made on the first ask by a getter on the
 * prototype: a getter in an object literal made per request (the first form of this lazy URL) grew the
 * server's RSS after a read benchmark by ~70 MiB, the contexts heavier to collect.
 */
class Context implements RequestContext {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly params: Record<string, string>;
  readonly baseUrl: string;
  readonly remoteAddress?: string;
  readonly #req: IncomingMessage;
  readonly #target: string;
  readonly #limit: number;
  #url: URL | undefined;
  #body: Promise<Buffer> | undefined;

  constructor(req: IncomingMessage, method: string, target: string, url: URL | undefined, path: string, params: Record<string, string>, baseUrl: string, limit: number) {
    this.#req = req;
    this.method = method;
    this.#target = target;
    this.#url = url;
    this.path = path;
    this.headers = req.headers;
    this.params = params;
    this.baseUrl = baseUrl;
    if (req.socket.remoteAddress !== undefined) this.remoteAddress = req.socket.remoteAddress;
    this.#limit = limit;
  }

  get url(): URL {
    return (this.#url ??= new URL(this.#target, 'http://localhost'));
  }

  body(): Promise<Buffer> {
    return (this.#body ??= readBody(this.#req, this.#limit));
  }

  async json(): Promise<unknown> {
    const raw = await this.body();
    try {
      return JSON.parse(raw.toString('utf8')) as unknown;
    } catch {
      throw new HttpError(400, 'request body is not valid JSON');
    }
  }
}

/** `http://<address>:<port>` of the local end of the request's connection: where it reached us. */
function localUrl(req: IncomingMessage): string {
  const addr = req.socket.localAddress ?? '127.0.0.1';
  const host = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return `http://${host.includes(':') ? `[${host}]` : host}:${req.socket.localPort ?? 80}`;
}

/** Listen on `host:port` (as parsed from `listen`, which names the address in the error); resolves to the bound address. */
export async function listenOn(server: Server, host: string, port: number, listen: string): Promise<AddressInfo> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new SignetError('IO', `cannot listen on ${listen}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`);
  }
  return server.address() as AddressInfo;
}

export { Metrics, Router, HttpError };
