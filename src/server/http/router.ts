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
  handler: Handler;
}

export interface Match {
  route?: { name: string; handler: Handler };
  params: Record<string, string>;
  /** True when the path exists for other methods (405 instead of 404). */
  otherMethods: string[];
}

export class Router {
  readonly #routes: Route[] = [];

  /** `path` is either an exact path or a RegExp with named groups, anchored by the caller. */
  add(method: string, name: string, path: string | RegExp, handler: Handler): this {
    const pattern = typeof path === 'string' ? new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : path;
    this.#routes.push({ method: method.toUpperCase(), name, pattern, handler });
    return this;
  }

  match(method: string, path: string): Match {
    const otherMethods: string[] = [];
    for (const r of this.#routes) {
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
