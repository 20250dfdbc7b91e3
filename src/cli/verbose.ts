/**
 * `-d/--verbose`: one stderr line per HTTP request the command makes — method, URL, status and time to
 * the response headers. Signet's clients run on undici (registry transport, global fetch) or node:http
 * (service clients, the TUF client); both announce their requests on diagnostics channels, and listening
 * there covers every client without threading a logger through each. Secrets never appear: URLs lose any
 * user:password part, and query values whose names look secret are replaced by "…".
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';

interface UndiciRequest {
  origin?: string | URL;
  method?: string;
  path?: string;
}

const SECRET_PARAM = /token|secret|pass|code|key|sig|auth|credential/i;

/** The request's URL as safe to print. */
export function describeUrl(origin: string | URL | undefined, path: string | undefined): string {
  let url: URL;
  try {
    url = new URL(path ?? '/', origin ?? 'http://unknown');
  } catch {
    return `${String(origin ?? '')}${(path ?? '').replace(/\?.*$/, '?…')}`;
  }
  const query = url.search
    .slice(1)
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const raw = eq < 0 ? p : p.slice(0, eq);
      let name = raw;
      try {
        name = decodeURIComponent(raw);
      } catch {
        // a malformed escape: judge the name as written
      }
      return eq >= 0 && SECRET_PARAM.test(name) ? `${p.slice(0, eq)}=…` : p;
    });
  return `${url.protocol}//${url.host}${url.pathname}${query.length > 0 ? '?' + query.join('&') : ''}`;
}

/** Start printing requests to `write` (stderr by default). Returns nothing: it lasts for the process. */
export function enableRequestLog(write: (line: string) => void = (l) => process.stderr.write(l + '\n')): void {
  const started = new WeakMap<object, number>();
  const line = (req: UndiciRequest, outcome: string): void => {
    const t0 = started.get(req);
    const ms = t0 === undefined ? '' : ` (${(performance.now() - t0).toFixed(0)} ms)`;
    write(`HTTP ${req.method ?? '?'} ${describeUrl(req.origin, req.path)} → ${outcome}${ms}`);
  };
  subscribe('undici:request:create', (m) => {
    const { request } = m as { request: UndiciRequest };
    started.set(request, performance.now());
  });
  subscribe('undici:request:headers', (m) => {
    const { request, response } = m as { request: UndiciRequest; response: { statusCode: number } };
    line(request, String(response.statusCode));
  });
  subscribe('undici:request:error', (m) => {
    const { request, error } = m as { request: UndiciRequest; error: Error };
    line(request, `failed: ${error.message}`);
  });

  // Registry-to-registry blob copies on raw connections (oci/wire.ts) announce themselves once done.
  subscribe('signet:wire:request', (m) => {
    const { method, url, outcome, ms } = m as { method: string; url: string; outcome: string; ms: number };
    write(`HTTP ${method} ${describeUrl(url, url)} → ${outcome} (${ms.toFixed(0)} ms)`);
  });

  // node:http and node:https clients (ClientRequest): the Host header carries the port.
  const httpStarted = new WeakMap<object, number>();
  const httpLine = (req: ClientRequest, outcome: string): void => {
    const t0 = httpStarted.get(req);
    const ms = t0 === undefined ? '' : ` (${(performance.now() - t0).toFixed(0)} ms)`;
    const host = req.getHeader('host');
    const origin = `${req.protocol}//${typeof host === 'string' ? host : req.host}`;
    write(`HTTP ${req.method} ${describeUrl(origin, req.path)} → ${outcome}${ms}`);
  };
  subscribe('http.client.request.start', (m) => {
    httpStarted.set((m as { request: ClientRequest }).request, performance.now());
  });
  subscribe('http.client.response.finish', (m) => {
    const { request, response } = m as { request: ClientRequest; response: IncomingMessage };
    httpLine(request, String(response.statusCode));
  });
  subscribe('http.client.request.error', (m) => {
    const { request, error } = m as { request: ClientRequest; error: Error };
    httpLine(request, `failed: ${error.message}`);
  });
}
