/**
 * A minimal router over node:http: each service (log, CA, TSA, …) registers its routes on one Router,
 * so adding a service never touches the HTTP plumbing. Handlers return a reply; thrown HttpError or
 * SignetError become Rekor-style JSON errors.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { SignetError } from '../../errors.js';

export interface RequestContext {
  method: string;
  url: URL;
  /** The decoded path without query. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Path parameters captured by the route's pattern (named groups). */
  params: Record<string, string>;
  /** The request body, read with the server's size limit (413 beyond it). */
  body(): Promise<Buffer>;
  /** The body parsed as JSON (400 when it is not JSON). */
  json(): Promise<unknown>;
  /** The server's public URL (serve's --public-url or its listen address), never taken from the request. */
  baseUrl: string;
  /** The peer's address (req.socket.remoteAddress); loopback-only routes depend on it. */
  remoteAddress?: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string | unknown;
}

export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

/** An error with an explicit HTTP status (and optional headers, e.g. Location on 409). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

interface Route {
  method: string;
  /** Metric label: the route's template, never the concrete path (bounded cardinality). */
  name: string;
  pattern: RegExp;
  /** What every path the pattern matches starts with: a route whose prefix differs is skipped without running its pattern. */
  prefix: string;
  handler: Handler;
}

/** Characters after which a pattern's source stops being a literal prefix. */
const REGEX_SPECIAL = new Set(['(', '[', '.', '*', '+', '?', '{', '|', '$', '^']);

/**
 * The literal text every match of an anchored `^…` pattern starts with (escaped punctuation included);
 * empty where that is not plain (unanchored, case-insensitive, or an escape class first).
 */
function literalPrefix(re: RegExp): string {
  const src = re.source;
  if (!src.startsWith('^') || re.flags.includes('i')) return '';
  let out = '';
  for (let i = 1; i < src.length; i++) {
    let c = src[i]!;
    let width = 1;
    if (c === '\\') {
      const next = src[i + 1];
      // Only escaped punctuation is itself; \d, \w, \s, \b … are classes or assertions.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) break;
      c = next;
      width = 2;
    } else if (REGEX_SPECIAL.has(c)) break;
    // A quantifier after it makes this character optional or repeated: the prefix ends before it.
    const after = src[i + width];
    if (after === '*' || after === '+' || after === '?' || after === '{') break;
    out += c;
    i += width - 1;
  }
  return out;
}

export interface Match {
  route?: { name: string; handler: Handler };
  params: Record<string, string>;
  /** True when the path exists for other methods (405 instead of 404). */
  otherMethods: string[];
}

/** Exposed for tests. */
export const routePrefixForTest = literalPrefix;

/**
 * A GET route answered before the general router: `handler` gets the raw request target after `prefix`
 * (no query, no percent-encoding: those take the general path) and returns undefined for targets it
 * does not take, which then go the general way. For hot, cheap reads (tiles), whose answer costs less
 * than parsing a URL and matching every route.
 */
export interface FastRoute {
  prefix: string;
  name: string;
  handler: (rest: string) => Reply | Promise<Reply> | undefined;
}

export class Router {
  readonly #routes: Route[] = [];
  readonly #fast: FastRoute[] = [];

  /** Registers a fast GET (and HEAD) route; the same resources must also be reachable through add(). */
  addFast(name: string, prefix: string, handler: FastRoute['handler']): this {
    if (!prefix.startsWith('/')) throw new Error(`a fast route's prefix starts with /: ${prefix}`);
    this.#fast.push({ prefix, name, handler });
    return this;
  }

  /** The fast route for a raw request target, with the rest after its prefix; undefined when none applies. */
  fast(target: string): { route: FastRoute; rest: string } | undefined {
    if (target.includes('?') || target.includes('%')) return undefined;
    for (const r of this.#fast) if (target.startsWith(r.prefix)) return { route: r, rest: target.slice(r.prefix.length) };
    return undefined;
  }

  /** `path` is either an exact path or a RegExp with named groups, anchored by the caller. */
  add(method: string, name: string, path: string | RegExp, handler: Handler): this {
    const pattern = typeof path === 'string' ? new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : path;
    this.#routes.push({ method: method.toUpperCase(), name, pattern, prefix: literalPrefix(pattern), handler });
    return this;
  }

  match(method: string, path: string): Match {
    const otherMethods: string[] = [];
    for (const r of this.#routes) {
      if (!path.startsWith(r.prefix)) continue;
      const m = r.pattern.exec(path);
      if (!m) continue;
      if (r.method === method || (method === 'HEAD' && r.method === 'GET')) {
        return { route: { name: r.name, handler: r.handler }, params: { ...(m.groups ?? {}) }, otherMethods };
      }
      otherMethods.push(r.method);
    }
    return { params: {}, otherMethods };
  }
}

/** HTTP status for a library error: bad input is the client's fault, everything else is ours. */
export function statusForError(e: unknown): { status: number; message: string; headers: Record<string, string> } {
  if (e instanceof HttpError) return { status: e.status, message: e.message, headers: e.headers };
  if (e instanceof SignetError) {
    switch (e.code) {
      case 'MALFORMED':
      case 'VERIFICATION':
      case 'USAGE':
      case 'KEY_FORMAT':
      case 'KEY_UNSUPPORTED':
      case 'NO_CERTIFICATE':
        return { status: 400, message: e.message, headers: {} };
      case 'TOO_LARGE':
        return { status: 413, message: e.message, headers: {} };
      case 'NOT_FOUND':
        return { status: 404, message: e.message, headers: {} };
      case 'CONFLICT':
        return { status: 409, message: e.message, headers: {} };
      default:
        break;
    }
  }
  return { status: 500, message: 'internal server error', headers: {} };
}
