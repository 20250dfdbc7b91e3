/**
 * HTTP that never hangs: every request the library sends (registry, log, CA, TSA, OIDC) goes through
 * `httpFetch`, which bounds the wait for response headers and the silence between body chunks, and
 * honours an AbortSignal — the command-wide deadline of `-t/--timeout`. Connecting is bounded by
 * undici's own connect timeout (10 s for global fetch; the registry's custom-TLS Agent is given the
 * same). Timeouts become one-line `SignetError`s with code TIMEOUT naming the host and what timed out.
 *
 * The signal and timeouts are options of every client; a CLI command sets them once for everything it
 * calls with `withNetOptions` (AsyncLocalStorage), so code in between need not pass them along.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import { SignetError } from './errors.js';

export interface HttpTimeouts {
  /** From sending the request until the response headers arrive (connecting included; plus an allowance for a request body). */
  headersMs: number;
  /** Longest silence while reading the response body. */
  bodyIdleMs: number;
}

/** 30 s each: far above any healthy answer (Rekor v2 may take ~10 s to integrate an entry). */
export const DEFAULT_TIMEOUTS: HttpTimeouts = { headersMs: 30_000, bodyIdleMs: 30_000 };
/**
 * The headers wait starts when the request does, before its body is sent: a request with a body gets
 * one more second per 100 KiB of it (a 16 MiB upload chunk: +164 s), so a slow uplink is not taken for
 * a silent server. The command's deadline still bounds the whole.
 */
export const MIN_UPLOAD_BYTES_PER_SECOND = 100 * 1024;
/** undici's default connect timeout, which global fetch uses; custom Agents are built with it too. */
export const CONNECT_TIMEOUT_MS = 10_000;

export interface NetOptions {
  /** Aborts every request and retry wait (e.g. the command's deadline). */
  signal?: AbortSignal;
  timeouts?: Partial<HttpTimeouts>;
}

const ambient = new AsyncLocalStorage<NetOptions>();

/** Run `fn` with `opts` as the default network options of everything it calls. */
export function withNetOptions<T>(opts: NetOptions, fn: () => T): T {
  return ambient.run(opts, fn);
}

/** Explicit options first, then the ones set by `withNetOptions`, then the defaults. */
export function netOptions(explicit: NetOptions = {}): { signal: AbortSignal | undefined; timeouts: HttpTimeouts } {
  const outer = ambient.getStore() ?? {};
  return {
    signal: explicit.signal ?? outer.signal,
    timeouts: { ...DEFAULT_TIMEOUTS, ...(outer.timeouts ?? {}), ...(explicit.timeouts ?? {}) },
  };
}

/** `1h2m3.5s`, `300ms`, `90s`, `3m` (Go's time.ParseDuration, as cosign's --timeout takes) → milliseconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (/^[0-9]+(\.[0-9]+)?$/.test(s) && Number(s) === 0) return 0;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
  const re = /([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(h|ms|m|s|us|µs|ns)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while (pos < s.length && (m = re.exec(s)) !== null) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (s === '' || pos !== s.length) {
    throw new SignetError('USAGE', `invalid duration "${text}" (use e.g. 30s, 3m, 1h30m)`);
  }
  return total;
}

/** Show a duration the way people write it: 2s, 1.5s, 3m, 1m30s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60 || s % 60 !== 0) {
    if (s < 60) return `${Number(s.toFixed(3))}s`;
    return `${Math.floor(s / 60)}m${Number((s % 60).toFixed(3))}s`;
  }
  return `${s / 60}m`;
}

/**
 * A signal that aborts after `ms` with a TIMEOUT error (`what` says whose deadline, e.g. "-t/--timeout").
 * The timer does not keep the process alive.
 */
export function deadlineSignal(ms: number, what: string): AbortSignal {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(new SignetError('TIMEOUT', `timed out after ${formatDuration(ms)} (${what})`)), ms);
  t.unref?.();
  return ac.signal;
}

/** The error for an abort by `signal` while doing `doing` (e.g. "waiting for response headers from host"). */
export function abortError(signal: AbortSignal, doing: string): SignetError {
  const r = signal.reason as unknown;
  if (r instanceof SignetError) return new SignetError(r.code, `${r.message} while ${doing}`, { cause: r });
  if ((r as Error)?.name === 'TimeoutError') return new SignetError('TIMEOUT', `timed out while ${doing}`, { cause: r });
  const why = r instanceof Error ? r.message : r === undefined ? 'aborted' : String(r);
  return new SignetError('TIMEOUT', `aborted (${why}) while ${doing}`, { cause: r });
}

/** Wait `ms`, or reject at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal, doing = 'waiting to retry'): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal, doing));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError(signal!, doing));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Settle as `p` does, or reject when `signal` aborts first (for libraries that take no signal). */
export function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined, doing: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(abortError(signal, doing));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      p.catch(() => undefined);
      reject(abortError(signal, doing));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** `host[:port]` of a URL, for messages. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The innermost string `code` of an error chain (fetch wraps socket errors in `cause`). */
export function errorCode(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 6 && cur; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return '';
}

/** Read a body, refusing to hold more than `max` bytes: Content-Length is checked first, the stream cut at the cap. */
export async function readLimited(res: Response, max: number, what: string): Promise<Buffer> {
  const declared = res.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new SignetError('TOO_LARGE', `${what} is ${declared} bytes, more than the limit of ${max}`);
  }
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      throw new SignetError('TOO_LARGE', `${what} is more than the limit of ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/** A client's network options, with the older `timeoutMs` (one bound per request) read as both timeouts. */
export function clientNet(o: NetOptions & { timeoutMs?: number }): NetOptions {
  const timeouts = o.timeoutMs !== undefined ? { headersMs: o.timeoutMs, bodyIdleMs: o.timeoutMs, ...(o.timeouts ?? {}) } : o.timeouts;
  const out: NetOptions = {};
  if (o.signal) out.signal = o.signal;
  if (timeouts) out.timeouts = timeouts;
  return out;
}

/** The same error with `context` in front (`transparency log https://…: timed out …`). */
export function inContext(e: SignetError, context: string): SignetError {
  return new SignetError(e.code, `${context}: ${e.message}`, { cause: e });
}

/** True for a TIMEOUT SignetError (a phase timeout or the deadline): never worth retrying. */
export function isTimeout(e: unknown): boolean {
  return e instanceof SignetError && e.code === 'TIMEOUT';
}

/**
 * Connections being opened, per origin, from undici's diagnostics channels (global fetch and the undici
 * package publish the same ones). Fetch does not say whether a request is still connecting (TCP and TLS)
 * or already waiting for its answer; this tells a timeout which of the two it interrupted.
 */
const connecting = new Map<string, number>();
let tracking = false;

function originKey(protocol: string, host: string): string {
  return `${protocol.toLowerCase()}//${host.toLowerCase()}`;
}

function trackConnects(): void {
  if (tracking) return;
  tracking = true;
  const key = (m: unknown): string => {
    const p = (m as { connectParams?: { protocol?: string; host?: string } }).connectParams;
    return originKey(p?.protocol ?? '', p?.host ?? '');
  };
  subscribe('undici:client:beforeConnect', (m) => {
    const k = key(m);
    connecting.set(k, (connecting.get(k) ?? 0) + 1);
  });
  const settled = (m: unknown): void => {
    const k = key(m);
    const n = (connecting.get(k) ?? 0) - 1;
    if (n > 0) connecting.set(k, n);
    else connecting.delete(k);
  };
  subscribe('undici:client:connected', settled);
  subscribe('undici:client:connectError', settled);
}

function isConnecting(url: string): boolean {
  try {
    const u = new URL(url);
    return (connecting.get(originKey(u.protocol, u.host)) ?? 0) > 0;
  } catch {
    return false;
  }
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

/** fetch's init; `dispatcher` may be an Agent of the undici package (custom TLS) as well as Node's own. */
export type HttpFetchInit = Omit<RequestInit, 'dispatcher' | 'signal'> & { dispatcher?: unknown };

/**
 * fetch with a headers timeout, a body-idle timeout and an outer signal. Throws TIMEOUT SignetErrors for
 * timeouts and aborts; other failures (refused, reset, TLS) are fetch's own errors, for the caller to
 * judge. Reading the returned body fails with a TIMEOUT SignetError after `bodyIdleMs` of silence.
 */
export async function httpFetch(url: string, init: HttpFetchInit = {}, opts: NetOptions = {}, fetchImpl: typeof fetch = fetch): Promise<Response> {
  const { signal: outer, timeouts } = netOptions(opts);
  const host = hostOf(url);
  if (outer?.aborted) throw abortError(outer, `sending a request to ${host}`);
  trackConnects();
  const ac = new AbortController();
  const onOuter = (): void => ac.abort(outer!.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  const done = (): void => outer?.removeEventListener('abort', onOuter);
  const b = init.body as unknown;
  const bodyBytes = typeof b === 'string' ? Buffer.byteLength(b) : b instanceof Uint8Array ? b.byteLength : b instanceof ArrayBuffer ? b.byteLength : 0;
  const headersMs = timeouts.headersMs + Math.ceil((bodyBytes / MIN_UPLOAD_BYTES_PER_SECOND) * 1000);
  let sending = false;
  const headersPhase = (): string =>
    sending ? `sending the request body to ${host}` : isConnecting(url) ? `connecting to ${host}` : `waiting for response headers from ${host}`;
  let headersTimer: NodeJS.Timeout | undefined;
  let answered = false;
  const armHeaders = (): void => {
    clearTimeout(headersTimer);
    if (answered) return;
    headersTimer = setTimeout(
      () => ac.abort(new SignetError('TIMEOUT', `timed out ${headersPhase()} (nothing within ${formatDuration(headersMs)})`)),
      headersMs,
    );
  };
  let sendTimer: NodeJS.Timeout | undefined;
  let abandon: (() => void) | undefined;
  let streamed: ReadableStream<Uint8Array> | undefined;
  if (b instanceof ReadableStream) {
    // A streamed body (an upload of unknown length): connecting is bounded by the connect timeout,
    // sending by the silence between chunks the server accepts (bodyIdleMs), and the wait for the
    // answer starts when the last byte has gone.
    const source = (b as ReadableStream<Uint8Array>).getReader();
    // Once the request is aborted or answered, the rest of the source is not read (fetch would go on
    // draining it to the end): it is cancelled, and the body errors rather than ends, so a cut-off
    // upload never looks complete to the server.
    let stopped = false;
    let sentAll = false;
    abandon = (): void => {
      if (stopped || sentAll) return;
      stopped = true;
      clearTimeout(sendTimer);
      void source.cancel(new Error('request abandoned')).catch(() => undefined);
    };
    ac.signal.addEventListener('abort', abandon, { once: true });
    const gone = (): Error => new Error(`the request to ${host} was abandoned`);
    const stall = (): void => {
      clearTimeout(sendTimer);
      if (answered) return;
      sendTimer = setTimeout(
        () => ac.abort(new SignetError('TIMEOUT', `timed out sending the request body to ${host} (not accepted for ${formatDuration(timeouts.bodyIdleMs)})`)),
        timeouts.bodyIdleMs,
      );
    };
    streamed = new ReadableStream<Uint8Array>(
      {
        async pull(controller): Promise<void> {
          if (stopped) return controller.error(gone());
          sending = true;
          clearTimeout(sendTimer);
          const r = await source.read();
          if (stopped) return controller.error(gone());
          if (r.done) {
            sending = false;
            sentAll = true;
            controller.close();
            armHeaders();
          } else {
            controller.enqueue(r.value);
            stall();
          }
        },
        async cancel(reason): Promise<void> {
          clearTimeout(sendTimer);
          stopped = true;
          await source.cancel(reason).catch(() => undefined);
        },
      },
      { highWaterMark: 0 },
    );
  } else {
    armHeaders();
  }
  let res: Response;
  try {
    res = await fetchImpl(url, { ...init, ...(streamed ? { body: streamed, duplex: 'half' } : {}), signal: ac.signal } as RequestInit);
  } catch (e) {
    done();
    throw translate(e, ac.signal, outer, headersPhase(), host);
  } finally {
    answered = true;
    clearTimeout(headersTimer);
    clearTimeout(sendTimer);
    abandon?.();
  }
  if (!res.body || NULL_BODY_STATUS.has(res.status)) {
    done();
    return res;
  }
  const waiting = `reading the response body from ${host}`;
  const reader = res.body.getReader();
  let finished = false;
  const finish = (): void => {
    finished = true;
    done();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller): Promise<void> {
        const idle = setTimeout(
          () => ac.abort(new SignetError('TIMEOUT', `timed out reading the response body from ${host} (no data for ${formatDuration(timeouts.bodyIdleMs)})`)),
          timeouts.bodyIdleMs,
        );
        try {
          const r = await reader.read();
          if (r.done) {
            finish();
            controller.close();
          } else {
            controller.enqueue(r.value);
          }
        } catch (e) {
          finish();
          controller.error(translate(e, ac.signal, outer, waiting, host));
        } finally {
          clearTimeout(idle);
        }
      },
      async cancel(reason): Promise<void> {
        if (!finished) finish();
        await reader.cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
  const wrapped = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  Object.defineProperty(wrapped, 'url', { value: res.url });
  Object.defineProperty(wrapped, 'redirected', { value: res.redirected });
  return wrapped;
}

function translate(e: unknown, own: AbortSignal, outer: AbortSignal | undefined, doing: string, host: string): unknown {
  if (outer?.aborted) return abortError(outer, doing);
  if (own.aborted && own.reason instanceof SignetError) return own.reason;
  const code = errorCode(e);
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return new SignetError('TIMEOUT', `timed out connecting to ${host}`, { cause: e });
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new SignetError('TIMEOUT', `timed out waiting for response headers from ${host}`, { cause: e });
  if (code === 'UND_ERR_BODY_TIMEOUT') return new SignetError('TIMEOUT', `timed out reading the response body from ${host}`, { cause: e });
  return e;
}
