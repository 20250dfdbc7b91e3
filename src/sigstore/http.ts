/**
 * `serviceFetch`: fetch's contract, for the part of it the Sigstore service clients use (CA, TSA, log),
 * on node:http/https and their keep-alive global agents. Global fetch spends about 0.2 ms of CPU per
 * request in its WHATWG stream machinery (every request body goes out through an async generator), three
 * times what the request itself costs; a keyless signature makes three of these requests, so on a busy
 * machine that was a fifth of the signing client's CPU.
 *
 * What stays as fetch has it: `status`/`ok`/`headers.get`/`text`/`arrayBuffer`, an async-iterable
 * `body` with `cancel()`; `redirect: 'error'` fails on a redirect, the default follows up to 20 (POST
 * turns into GET on 303, and on 301/302 as browsers do); an aborted `signal` rejects with its reason (a
 * `TimeoutError` for `AbortSignal.timeout`), before or after the answer's head; any other failure
 * rejects with `TypeError('fetch failed')` whose `cause` is the socket error (with its `code`).
 * Bodies are never decompressed: no Accept-Encoding is sent.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import { SignetError } from '../errors.js';
import { abortError, formatDuration, hostOf, MIN_UPLOAD_BYTES_PER_SECOND, netOptions, type NetOptions } from '../net.js';
import { VERSION } from '../version.js';

export interface ServiceRequestInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
  /** 'follow' (the default) or 'error'. */
  redirect?: 'follow' | 'error';
  /** An https agent with its own TLS settings (a private CA, a client certificate); https URLs only. */
  agent?: HttpsAgent;
}

export interface ServiceResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  /** The body as it arrives; `cancel()` drops the rest and the connection. */
  readonly body: AsyncIterable<Buffer> & { cancel(): Promise<void> };
  text(): Promise<string>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = `signet/${VERSION}`;

function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

class Answer implements ServiceResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  readonly body: AsyncIterable<Buffer> & { cancel(): Promise<void> };

  constructor(
    readonly url: string,
    res: IncomingMessage,
    done: () => void,
  ) {
    this.status = res.statusCode ?? 0;
    this.ok = this.status >= 200 && this.status < 300;
    const h = res.headers;
    this.headers = {
      get: (name) => {
        const v = h[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
    };
    const iterate = async function* (): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of res) yield chunk as Buffer;
      } finally {
        done();
      }
    };
    this.body = {
      [Symbol.asyncIterator]: iterate,
      cancel: async () => {
        res.destroy();
        done();
      },
    };
  }

  private async bytes(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.body) chunks.push(chunk);
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.bytes();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }
}

/** One request, no redirects: resolves at the answer's head. */
function once(url: URL, method: string, headers: OutgoingHttpHeaders, body: Uint8Array | undefined, signal: AbortSignal | undefined, agent?: HttpsAgent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const send = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined;
    if (!send) {
      reject(fetchFailed(new Error(`unsupported protocol ${url.protocol}`)));
      return;
    }
    let res: IncomingMessage | undefined;
    const onAbort = (): void => {
      const reason = abortReason(signal!);
      // Before the head this rejects the request; after it, it ends the body's iteration with the reason.
      if (res) res.destroy(reason as Error);
      else req.destroy(reason as Error);
    };
    const done = (): void => signal?.removeEventListener('abort', onAbort);
    if (agent && url.protocol !== 'https:') {
      reject(fetchFailed(new Error(`TLS client settings need an https URL, not ${url.protocol}`)));
      return;
    }
    const req = send(url, agent ? { method, headers, agent } : { method, headers }, (r) => {
      res = r;
      resolve(new Answer(url.href, r, done));
    });
    req.on('error', (e) => {
      done();
      if (res) return; // reported through the body's iteration
      reject(signal?.aborted && e === signal.reason ? e : fetchFailed(e));
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}

export async function serviceFetch(input: string, init: ServiceRequestInit = {}): Promise<ServiceResponse> {
  let url: URL;
  try {
    url = new URL(input);
  } catch (e) {
    throw new TypeError(`invalid URL ${JSON.stringify(input)}`, { cause: e });
  }
  let method = init.method ?? 'GET';
  let body = typeof init.body === 'string' ? Buffer.from(init.body, 'utf8') : init.body;
  const given: Record<string, string> = {};
  for (const [k, v] of Object.entries(init.headers ?? {})) given[k.toLowerCase()] = v;
  for (let hop = 0; ; hop++) {
    const headers: OutgoingHttpHeaders = { 'user-agent': USER_AGENT, accept: '*/*', ...given };
    if (body !== undefined) headers['content-length'] = body.byteLength;
    const res = await once(url, method, headers, body, init.signal, init.agent);
    const location = res.headers.get('location');
    if (!REDIRECTS.has(res.status) || location === null) return res;
    await res.body.cancel();
    if (init.redirect === 'error') throw fetchFailed(new Error('unexpected redirect'));
    if (hop === MAX_REDIRECTS) throw fetchFailed(new Error('redirect count exceeded'));
    try {
      url = new URL(location, url);
    } catch (e) {
      throw fetchFailed(e);
    }
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      for (const k of Object.keys(given)) if (k.startsWith('content-')) delete given[k];
    }
  }
}

/**
 * One exchange with a service under the network options of net.ts: the wait for the answer's head and
 * each silence in its body are bounded, the command's deadline aborts it, and the body is read whole up
 * to `max` bytes (Content-Length checked first). Timeouts and aborts are TIMEOUT SignetErrors naming the
 * host; other failures are serviceFetch's own, for the caller to judge (retry or not).
 */
export async function serviceExchange(
  url: string,
  init: Omit<ServiceRequestInit, 'signal'>,
  opts: NetOptions,
  max: number,
  what: string,
  fetchImpl: typeof serviceFetch = serviceFetch,
): Promise<{ res: ServiceResponse; body: Buffer }> {
  const { signal: outer, timeouts } = netOptions(opts);
  const host = hostOf(url);
  if (outer?.aborted) throw abortError(outer, `sending a request to ${host}`);
  const ac = new AbortController();
  const onOuter = (): void => ac.abort(outer!.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  const fail = (e: unknown, doing: string): unknown => {
    if (outer?.aborted) return abortError(outer, doing);
    if (ac.signal.aborted && ac.signal.reason instanceof SignetError) return ac.signal.reason;
    return e;
  };
  const bodyBytes = typeof init.body === 'string' ? Buffer.byteLength(init.body) : (init.body?.byteLength ?? 0);
  const headersMs = timeouts.headersMs + Math.ceil((bodyBytes / MIN_UPLOAD_BYTES_PER_SECOND) * 1000);
  const waitingHead = `waiting for response headers from ${host}`;
  const reading = `reading the response body from ${host}`;
  try {
    let res: ServiceResponse;
    const headTimer = setTimeout(() => ac.abort(new SignetError('TIMEOUT', `timed out ${waitingHead} (nothing within ${formatDuration(headersMs)})`)), headersMs);
    try {
      res = await fetchImpl(url, { ...init, signal: ac.signal });
    } catch (e) {
      throw fail(e, waitingHead);
    } finally {
      clearTimeout(headTimer);
    }
    const declared = res.headers.get('content-length');
    if (declared !== null && /^\d+$/.test(declared) && Number(declared) > max) {
      await res.body.cancel().catch(() => undefined);
      throw new SignetError('TOO_LARGE', `${what} is ${declared} bytes, more than the limit of ${max}`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const it = res.body[Symbol.asyncIterator]();
    for (;;) {
      const idle = setTimeout(
        () => ac.abort(new SignetError('TIMEOUT', `timed out ${reading} (no data for ${formatDuration(timeouts.bodyIdleMs)})`)),
        timeouts.bodyIdleMs,
      );
      let r: IteratorResult<Buffer>;
      try {
        r = await it.next();
      } catch (e) {
        throw fail(e, reading);
      } finally {
        clearTimeout(idle);
      }
      if (r.done) break;
      total += r.value.byteLength;
      if (total > max) {
        await res.body.cancel().catch(() => undefined);
        throw new SignetError('TOO_LARGE', `${what} is more than the limit of ${max} bytes`);
      }
      chunks.push(r.value);
    }
    return { res, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) };
  } finally {
    outer?.removeEventListener('abort', onOuter);
  }
}
