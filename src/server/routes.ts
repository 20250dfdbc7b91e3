/**
 * The contract between library-level services (CA, OIDC, TSA, log) and the HTTP layer: each service
 * exposes a table of exact-path routes; the HTTP server only matches method + path and copies bytes.
 * Keeping services free of any server framework lets tests call `handle` directly.
 */

export interface ServiceRequest {
  /** Lower-case header names, as node:http delivers them. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  query: URLSearchParams;
  /** Address of the peer, when the HTTP layer knows it (used to restrict loopback-only routes). */
  remoteAddress?: string;
}

export interface ServiceResponse {
  status: number;
  headers?: Record<string, string>;
  body: Buffer | string;
}

export interface ServiceRoute {
  method: 'GET' | 'POST';
  /** Exact path, e.g. '/api/v2/signingCert'. */
  path: string;
  handle(req: ServiceRequest): Promise<ServiceResponse>;
}

/** gRPC status codes used in grpc-gateway style error bodies (Fulcio's HTTP API). */
export const GrpcCode = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  INTERNAL: 13,
  UNAUTHENTICATED: 16,
} as const;

export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): ServiceResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(value),
  };
}

/** A grpc-gateway status body, as Fulcio (and other Sigstore Go services) answer errors. */
export function grpcError(status: number, code: number, message: string): ServiceResponse {
  return jsonResponse(status, { code, message, details: [] });
}

/** First value of a header, whatever node:http made of it. */
export function header(req: ServiceRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopbackAddress(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/**
 * Headers a reverse proxy or load balancer adds to say who the real client is. A request carrying one
 * came through such a hop, so its loopback peer address says nothing about the client: loopback-only
 * routes refuse it. (A proxy that adds none of these cannot be told apart; hence serve also refuses
 * --dev-oidc on a non-loopback address.)
 */
export const PROXY_HEADERS = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-real-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'x-original-forwarded-for',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'via',
] as const;

/** The first proxy header present on the request, if any. */
export function proxyHeaderOf(req: ServiceRequest): string | undefined {
  return PROXY_HEADERS.find((h) => req.headers[h] !== undefined);
}
