/**
 * Moving a blob between two registries on raw HTTP/1.1 connections, for `copy`: the source's body is
 * read into a small pool of fixed buffers (net's `onread`, no allocation per chunk), each piece hashed
 * and written to the destination's streamed PATCH (chunked) from the same buffer, and the source is
 * paused while every buffer of the pool waits on the destination. fetch allocates and copies every
 * chunk on the way (twice per chunk, plus a WHATWG stream's promises), which for a copy at 200 MB/s
 * left 60+ MiB of collected-later ArrayBuffers and a grown young generation in the process.
 *
 * This is the data path only: the transport resolves the endpoint, the scheme and the credentials
 * (`Transport.wireTarget`), and anything but a plain answer (a 401 to renew a token, a registry
 * error) is handed back for the fetch path to deal with, before a byte of the body has moved.
 * Redirects of the GET (to blob storage) are followed here, without the registry's credentials.
 */
import { channel } from 'node:diagnostics_channel';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { SignetError } from '../errors.js';
import { abortError, CONNECT_TIMEOUT_MS, errorCode, formatDuration, type HttpTimeouts } from '../net.js';

/** Where one request goes, as the transport prepared it. */
export interface WireTarget {
  url: string;
  headers: Record<string, string>;
  /** TLS settings beyond the defaults (CA, client certificate, server name, no verification). */
  tls: Record<string, unknown> | undefined;
  timeouts: HttpTimeouts;
  signal: AbortSignal | undefined;
}

/** A response head, and for a response that is not streamed on, its (small) body. */
export interface WireAnswer {
  status: number;
  headers: Headers;
  body: Buffer;
  url: string;
}

/**
 * Each request of this path, announced once its head is answered or it fails (fetch's requests are on
 * undici's channels): `{ method, url, outcome, ms }`, outcome the status or `failed: …`. `-d` prints them.
 */
export const WIRE_CHANNEL = 'signet:wire:request';
const announce = channel(WIRE_CHANNEL);

function publish(method: string, url: string, outcome: string, t0: number): void {
  if (announce.hasSubscribers) announce.publish({ method, url, outcome, ms: performance.now() - t0 });
}

/**
 * Bytes handed on piece by piece from a few reused buffers: each piece must be `release`d once used
 * (sent, written), and only then is its buffer read into again. `pipe` resolves once every piece has
 * been handed on.
 */
export interface PieceSource {
  pipe(onPiece: (piece: Buffer, release: () => void) => void): Promise<void>;
  /** Stop reading (and close what is open). */
  close(): void;
}

const BUFFER_SIZE = 64 * 1024;
/** Buffers per blob in flight: 8 × 64 KiB (a TLS record fills 16 KiB of one). */
const POOL_SIZE = 8;
/** Files are read in larger pieces: 4 × 256 KiB. */
const FILE_BUFFER_SIZE = 256 * 1024;
const FILE_POOL_SIZE = 4;
const HEAD_LIMIT = 64 * 1024;
const SMALL_BODY_LIMIT = 64 * 1024;
const MAX_REDIRECTS = 5;

/** The URL without its query (upload locations carry opaque state). */
function shown(url: string): string {
  const q = url.indexOf('?');
  return q >= 0 ? url.slice(0, q) : url;
}

function networkError(method: string, url: string, e: unknown): SignetError {
  if (e instanceof SignetError) return e;
  const code = errorCode(e);
  const message = e instanceof Error ? e.message : String(e);
  return new SignetError('NETWORK', `${method} ${shown(url)}: ${message}${code && !message.includes(code) ? ` (${code})` : ''}`, { cause: e });
}

/** Incremental parser of one HTTP/1.1 response: the head, then the body's framing (length, chunked or to the close). */
class ResponseParser {
  head: { status: number; headers: Headers } | undefined;
  done = false;
  private headBytes: Buffer[] = [];
  private headLength = 0;
  private mode: 'length' | 'chunked' | 'close' = 'close';
  private remaining = 0;
  private chunkState: 'size' | 'data' | 'data-end' | 'trailer' = 'size';
  private line = '';

  constructor(private readonly method: string) {}

  /**
   * Feed bytes; `onBody` gets each piece of body (a view of `data`, valid until the call returns unless
   * the caller holds on to `data`). Returns once `data` is used up or the body is complete.
   */
  feed(data: Buffer, onBody: (piece: Buffer) => void): void {
    let at = 0;
    while (at < data.length && !this.done) {
      if (!this.head) {
        at = this.feedHead(data, at);
        continue;
      }
      if (this.mode === 'close') {
        onBody(data.subarray(at));
        return;
      }
      if (this.mode === 'length') {
        const n = Math.min(this.remaining, data.length - at);
        if (n > 0) onBody(data.subarray(at, at + n));
        at += n;
        this.remaining -= n;
        if (this.remaining === 0) this.done = true;
        continue;
      }
      at = this.feedChunked(data, at, onBody);
    }
  }

  /** The connection closed: fine for a body that runs to the close, otherwise the answer was cut off. */
  closed(): boolean {
    if (this.head && this.mode === 'close') this.done = true;
    return this.done;
  }

  private feedHead(data: Buffer, at: number): number {
    const start = at;
    // The head ends at CRLFCRLF, which may straddle pieces: look from a few bytes back.
    const joined = this.headLength > 0 ? Buffer.concat([...this.headBytes, data.subarray(at)]) : data.subarray(at);
    const end = joined.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.headLength + data.length - at > HEAD_LIMIT) throw new SignetError('MALFORMED', 'the response head is larger than 64 KiB');
      this.headBytes.push(Buffer.from(data.subarray(at)));
      this.headLength += data.length - at;
      return data.length;
    }
    const consumed = end + 4 - this.headLength;
    const text = joined.subarray(0, end).toString('latin1');
    this.headBytes = [];
    this.headLength = 0;
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!status) throw new SignetError('MALFORMED', `not an HTTP/1.1 response: ${JSON.stringify((lines[0] ?? '').slice(0, 60))}`);
    const code = Number(status[1]);
    if (code < 100 || code > 599) throw new SignetError('MALFORMED', `invalid response status ${code}`);
    const headers = new Headers();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new SignetError('MALFORMED', `malformed response header ${JSON.stringify(line.slice(0, 60))}`);
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    // An interim answer (100 Continue) is skipped; the real head follows.
    if (code >= 100 && code < 200) return start + consumed;
    this.head = { status: code, headers };
    const te = headers.get('transfer-encoding');
    const cl = headers.get('content-length');
    if (this.method === 'HEAD' || code === 204 || code === 304) {
      this.done = true;
    } else if (te !== null && /(^|,)\s*chunked\s*$/i.test(te)) {
      this.mode = 'chunked';
    } else if (cl !== null) {
      if (!/^\d+$/.test(cl.trim())) throw new SignetError('MALFORMED', `invalid Content-Length ${JSON.stringify(cl.slice(0, 40))}`);
      this.mode = 'length';
      this.remaining = Number(cl.trim());
      if (this.remaining === 0) this.done = true;
    } else {
      this.mode = 'close';
    }
    return start + consumed;
  }

  private feedChunked(data: Buffer, at: number, onBody: (piece: Buffer) => void): number {
    while (at < data.length && !this.done) {
      if (this.chunkState === 'data') {
        const n = Math.min(this.remaining, data.length - at);
        onBody(data.subarray(at, at + n));
        at += n;
        this.remaining -= n;
        if (this.remaining === 0) this.chunkState = 'data-end';
        continue;
      }
      // Line-oriented states: a chunk size (extensions ignored), the CRLF after data, trailers.
      const nl = data.indexOf(10, at);
      const upto = nl < 0 ? data.length : nl;
      this.line += data.subarray(at, upto).toString('latin1');
      if (this.line.length > 4096) throw new SignetError('MALFORMED', 'a chunked response line is too long');
      at = nl < 0 ? data.length : nl + 1;
      if (nl < 0) break;
      const line = this.line.replace(/\r$/, '');
      this.line = '';
      if (this.chunkState === 'data-end') {
        if (line !== '') throw new SignetError('MALFORMED', 'a chunk of the response does not end where its size says');
        this.chunkState = 'size';
      } else if (this.chunkState === 'size') {
        const size = /^([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(line);
        if (!size) throw new SignetError('MALFORMED', `invalid chunk size ${JSON.stringify(line.slice(0, 40))}`);
        this.remaining = parseInt(size[1]!, 16);
        this.chunkState = this.remaining === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.done = true;
      }
    }
    return at;
  }
}

/** Open a connection for `url` with the target's TLS settings; resolves once it is connected (and the handshake done). */
function open(url: URL, target: WireTarget, onread?: { buffer: () => Buffer; callback: (n: number, b: Buffer) => boolean }): Promise<Socket> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const tls = url.protocol === 'https:';
  const port = Number(url.port || (tls ? 443 : 80));
  return new Promise((resolve, reject) => {
    const options: ConnectionOptions = { host, port, ...(onread ? { onread } : {}) };
    let socket: Socket;
    if (tls) {
      const extra = target.tls ?? {};
      socket = tlsConnect({ ...options, ALPNProtocols: ['http/1.1'], ...(isIP(host) ? {} : { servername: host }), ...extra } as ConnectionOptions);
    } else {
      socket = netConnect(options as Parameters<typeof netConnect>[0]);
    }
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SignetError('TIMEOUT', `timed out connecting to ${url.host}`));
    }, CONNECT_TIMEOUT_MS);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    socket.once('error', fail);
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

function requestHead(method: string, url: URL, headers: Record<string, string>, extra: Record<string, string>): string {
  let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [k, v] of Object.entries({ ...headers, ...extra })) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new SignetError('USAGE', `header ${k} holds a line break`);
    head += `${k}: ${v}\r\n`;
  }
  return head + '\r\n';
}

/**
 * Watches one exchange: the command's signal, and an idle timer that `touch()` re-arms; on either it
 * calls `fail` with a TIMEOUT naming what was going on (`doing()`).
 */
class Watch {
  private timer: NodeJS.Timeout | undefined;
  private ms = 0;
  private readonly onAbort: () => void;
  constructor(
    private readonly signal: AbortSignal | undefined,
    private readonly doing: () => string,
    private readonly fail: (e: SignetError) => void,
  ) {
    this.onAbort = () => this.fail(abortError(this.signal!, this.doing()));
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }
  /** Re-arm the timer for `ms` (or the last duration). */
  touch(ms = this.ms): void {
    this.ms = ms;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fail(new SignetError('TIMEOUT', `timed out ${this.doing()} (nothing for ${formatDuration(this.ms)})`)), ms);
  }
  /** Not waiting on the peer for now (the source is paused while the destination catches up). */
  idle(): void {
    clearTimeout(this.timer);
  }
  stop(): void {
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/** A GET whose body is read into pooled buffers: its head first, then `pipe` hands the body on piece by piece. */
export class WireGet implements PieceSource {
  answer: WireAnswer | undefined;
  private socket: Socket | undefined;
  private readonly pool: Buffer[] = [];
  private readonly free: Buffer[] = [];
  private readonly users = new Map<Buffer, number>();
  private paused = false;
  private parser: ResponseParser;
  private consumer: ((piece: Buffer, release: () => void) => void) | undefined;
  private pending: Array<{ piece: Buffer; buffer: Buffer }> = [];
  private settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  private failure: unknown;
  private ended = false;
  private watch: Watch | undefined;

  private constructor(private url: string) {
    this.parser = new ResponseParser('GET');
    for (let i = 0; i < POOL_SIZE; i++) this.pool.push(Buffer.allocUnsafe(BUFFER_SIZE));
    this.free.push(...this.pool);
  }

  /**
   * Send the GET (following redirects, dropping the credentials for another origin) and read the head.
   * A 200 is ready to `pipe`; any other answer comes with its body read (up to 64 KiB) and the
   * connection closed.
   */
  static async send(target: WireTarget): Promise<WireGet> {
    let headers = target.headers;
    let url = target.url;
    for (let hop = 0; ; hop++) {
      const get = new WireGet(url);
      await get.start(target, headers);
      const a = get.answer!;
      const location = a.headers.get('location');
      if ([301, 302, 303, 307, 308].includes(a.status) && location && hop < MAX_REDIRECTS) {
        const next = new URL(location, url);
        if (next.protocol !== 'http:' && next.protocol !== 'https:') return get;
        if (next.origin !== new URL(url).origin) {
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
        }
        url = next.toString();
        continue;
      }
      return get;
    }
  }

  private async start(target: WireTarget, headers: Record<string, string>): Promise<void> {
    const url = new URL(this.url);
    const t0 = performance.now();
    let phase = `connecting to ${url.host}`;
    let headReady: { resolve: () => void; reject: (e: unknown) => void } | undefined;
    const headPromise = new Promise<void>((resolve, reject) => (headReady = { resolve, reject }));
    // A failure while connecting rejects it before anyone waits on it (the error is thrown below).
    headPromise.catch(() => undefined);
    const fail = (e: unknown): void => {
      if (this.failure !== undefined) return;
      this.failure = networkError('GET', this.url, e);
      if (!this.answer) publish('GET', this.url, `failed: ${(this.failure as Error).message}`, t0);
      this.watch?.stop();
      this.socket?.destroy();
      headReady?.reject(this.failure);
      this.settle?.reject(this.failure);
    };
    this.watch = new Watch(target.signal, () => phase, fail);
    if (target.signal?.aborted) throw abortError(target.signal, phase);
    try {
      this.socket = await open(url, target, {
        // Node asks for the buffer of the next read right after each callback, paused or not.
        buffer: () => this.free.pop() ?? this.grow(),
        callback: (n, b) => this.onRead(n, b, fail, () => headReady?.resolve()),
      });
    } catch (e) {
      fail(e);
      throw this.failure;
    }
    if (this.failure !== undefined) {
      this.socket.destroy();
      throw this.failure;
    }
    phase = `waiting for response headers from ${url.host}`;
    this.watch.touch(target.timeouts.headersMs);
    this.socket.on('error', fail);
    this.socket.on('end', () => this.onEnd(fail, () => headReady?.resolve()));
    this.socket.on('close', () => {
      if (!this.ended && this.failure === undefined) this.onEnd(fail, () => headReady?.resolve());
    });
    this.socket.write(requestHead('GET', url, headers, { connection: 'close' }));
    await headPromise;
    const head = this.parser.head!;
    phase = `reading the response body from ${url.host}`;
    this.watch.touch(target.timeouts.bodyIdleMs);
    this.answer = { status: head.status, headers: head.headers, body: Buffer.alloc(0), url: this.url };
    publish('GET', this.url, String(head.status), t0);
    if (head.status !== 200) {
      // Not a blob: read the little there is (an error document, a redirect) and close.
      const parts: Buffer[] = [];
      let size = 0;
      await this.pipe((piece, release) => {
        if (size < SMALL_BODY_LIMIT) parts.push(Buffer.from(piece.subarray(0, SMALL_BODY_LIMIT - size)));
        size += piece.length;
        release();
      }).catch(() => undefined);
      this.answer.body = Buffer.concat(parts);
      this.close();
    }
  }

  /** Only if Node asks for a buffer when none is free (the pause below is meant to prevent it). */
  private grow(): Buffer {
    const b = Buffer.allocUnsafe(BUFFER_SIZE);
    this.pool.push(b);
    return b;
  }

  private onRead(n: number, b: Buffer, fail: (e: unknown) => void, headDone: () => void): boolean {
    if (this.failure !== undefined) return false;
    this.watch?.touch();
    this.users.set(b, 1);
    try {
      const hadHead = this.parser.head !== undefined;
      this.parser.feed(b.subarray(0, n), (piece) => {
        this.users.set(b, this.users.get(b)! + 1);
        this.deliver(piece, b);
      });
      if (!hadHead && this.parser.head) headDone();
    } catch (e) {
      fail(e);
      return false;
    }
    this.release(b);
    if (this.parser.done) this.finish();
    // The next read goes into a buffer taken from `free` as this returns: pause while at most that
    // one is left, so a read never lands in a buffer whose pieces are still on their way.
    if (this.free.length <= 1 && !this.ended) {
      this.paused = true;
      this.watch?.idle();
      return false;
    }
    return true;
  }

  private onEnd(fail: (e: unknown) => void, headDone: () => void): void {
    if (this.ended || this.failure !== undefined) return;
    if (!this.parser.closed()) {
      fail(new SignetError('NETWORK', `GET ${shown(this.url)}: the connection closed before the ${this.parser.head ? 'whole body' : 'response'} arrived (ECONNRESET)`, { cause: Object.assign(new Error('closed'), { code: 'ECONNRESET' }) }));
      return;
    }
    headDone();
    this.finish();
  }

  private deliver(piece: Buffer, buffer: Buffer): void {
    if (this.consumer) this.consumer(piece, () => this.release(buffer));
    else this.pending.push({ piece, buffer });
  }

  private release(b: Buffer): void {
    const left = (this.users.get(b) ?? 1) - 1;
    if (left > 0) {
      this.users.set(b, left);
      return;
    }
    this.users.delete(b);
    this.free.push(b);
    if (this.paused && !this.ended && this.failure === undefined) {
      this.paused = false;
      this.watch?.touch();
      this.socket?.resume();
    }
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.consumer && this.pending.length === 0) {
      this.watch?.stop();
      this.settle?.resolve();
    }
  }

  /**
   * Hand the body on: `onPiece` gets each piece and calls `release` once it is done with it (the
   * piece's buffer is then read into again). Resolves when the body has been handed on whole.
   */
  pipe(onPiece: (piece: Buffer, release: () => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure !== undefined) return reject(this.failure);
      this.settle = { resolve, reject };
      this.consumer = onPiece;
      const queued = this.pending;
      this.pending = [];
      for (const { piece, buffer } of queued) onPiece(piece, () => this.release(buffer));
      if (this.ended) {
        this.watch?.stop();
        resolve();
      }
    });
  }

  /**
   * The body as an async iterable for a consumer that is done with each chunk before asking for the
   * next (a file write): a chunk's buffer is reused once the next one is asked for. Breaking off
   * closes the connection.
   */
  chunks(): AsyncIterable<Buffer> {
    return iteratePieces(this);
  }

  /** Stop reading and close the connection. */
  close(): void {
    this.watch?.stop();
    this.ended = true;
    this.socket?.destroy();
  }
}

/**
 * A streamed PATCH of `source`'s body (chunked), each piece passed to `onPiece` (the hash) before it is
 * sent. Resolves with the destination's answer. If the destination answers before the body is sent
 * whole, the source is closed and that answer returned with `early` set.
 */
export async function wirePatch(
  target: WireTarget,
  source: PieceSource,
  onPiece: (piece: Buffer) => void,
): Promise<WireAnswer & { early: boolean }> {
  const url = new URL(target.url);
  const t0 = performance.now();
  let phase = `connecting to ${url.host}`;
  let failed: unknown;
  let reject: (e: unknown) => void = () => undefined;
  let socket: Socket | undefined;
  let over = false;
  const fail = (e: unknown): void => {
    if (failed !== undefined || over) return;
    failed = networkError('PATCH', target.url, e);
    publish('PATCH', target.url, `failed: ${(failed as Error).message}`, t0);
    watch.stop();
    socket?.destroy();
    source.close();
    reject(failed);
  };
  const watch = new Watch(target.signal, () => phase, fail);
  if (target.signal?.aborted) {
    source.close();
    throw abortError(target.signal, phase);
  }
  try {
    socket = await open(url, target);
  } catch (e) {
    fail(e);
    throw failed;
  }
  if (failed !== undefined) {
    socket.destroy();
    throw failed;
  }
  const sock = socket;
  const parser = new ResponseParser('PATCH');
  const body: Buffer[] = [];
  let bodySize = 0;
  let sent = false;
  return new Promise((resolve, rejectFn) => {
    reject = rejectFn;
    const answered = (): void => {
      if (over) return;
      over = true;
      watch.stop();
      sock.destroy();
      const early = !sent;
      if (early) source.close();
      const head = parser.head!;
      publish('PATCH', target.url, String(head.status), t0);
      resolve({ status: head.status, headers: head.headers, body: Buffer.concat(body), url: target.url, early });
    };
    sock.on('error', fail);
    sock.on('data', (d: Buffer) => {
      try {
        parser.feed(d, (piece) => {
          if (bodySize < SMALL_BODY_LIMIT) body.push(Buffer.from(piece.subarray(0, SMALL_BODY_LIMIT - bodySize)));
          bodySize += piece.length;
        });
      } catch (e) {
        fail(e);
        return;
      }
      if (parser.done) answered();
    });
    sock.on('close', () => {
      if (failed !== undefined || over) return;
      if (parser.closed()) answered();
      else fail(Object.assign(new Error(`the connection closed before the ${parser.head ? 'whole answer' : 'answer'} arrived`), { code: 'ECONNRESET' }));
    });
    phase = `sending the request body to ${url.host}`;
    watch.touch(target.timeouts.bodyIdleMs);
    sock.write(requestHead('PATCH', url, target.headers, { 'transfer-encoding': 'chunked', connection: 'close' }));
    source
      .pipe((piece, release) => {
        if (failed !== undefined || parser.head) return release();
        onPiece(piece);
        sock.cork();
        sock.write(piece.length.toString(16) + '\r\n');
        sock.write(piece, () => {
          watch.touch();
          release();
        });
        sock.write('\r\n');
        process.nextTick(() => sock.uncork());
      })
      .then(
        () => {
          if (failed !== undefined || parser.head) return;
          sent = true;
          sock.write('0\r\n\r\n', () => {
            if (failed !== undefined || parser.done) return;
            phase = `waiting for response headers from ${url.host}`;
            watch.touch(target.timeouts.headersMs);
          });
        },
        (e: unknown) => fail(e),
      );
  });
}

/** `source` as an async iterable: each chunk released when the next is asked for (or the loop ends). */
async function* iteratePieces(source: PieceSource): AsyncGenerator<Buffer> {
  const queue: Array<{ piece: Buffer; release: () => void }> = [];
  let wake: (() => void) | undefined;
  let end: { error?: unknown } | undefined;
  const piped = source.pipe((piece, release) => {
    queue.push({ piece, release });
    wake?.();
  });
  piped.then(
    () => {
      end = {};
      wake?.();
    },
    (e: unknown) => {
      end = { error: e };
      wake?.();
    },
  );
  let current: { release: () => void } | undefined;
  try {
    for (;;) {
      current?.release();
      current = undefined;
      while (queue.length === 0 && !end) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      const next = queue.shift();
      if (next) {
        current = next;
        yield next.piece;
        continue;
      }
      if (end?.error !== undefined) throw end.error;
      return;
    }
  } finally {
    current?.release();
    for (const q of queue.splice(0)) q.release();
    if (!end) source.close();
  }
}

/** A file read into a few reused buffers, as a PieceSource (`load`'s uploads from an OCI layout). */
export class FilePieces implements PieceSource {
  private closed = false;
  private handle: FileHandle | undefined;
  private wake: (() => void) | undefined;
  constructor(
    private readonly path: string,
    private readonly what: string,
  ) {}

  async pipe(onPiece: (piece: Buffer, release: () => void) => void): Promise<void> {
    const free = Array.from({ length: FILE_POOL_SIZE }, () => Buffer.allocUnsafe(FILE_BUFFER_SIZE));
    try {
      this.handle = await openFile(this.path, 'r');
      for (;;) {
        while (free.length === 0 && !this.closed) await new Promise<void>((r) => (this.wake = r));
        if (this.closed) return;
        const buffer = free.pop()!;
        const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) return;
        onPiece(buffer.subarray(0, bytesRead), () => {
          free.push(buffer);
          const w = this.wake;
          this.wake = undefined;
          w?.();
        });
      }
    } catch (e) {
      if (this.closed) return;
      throw new SignetError('IO', `cannot read ${this.what}: ${(e as Error).message}`, { cause: e });
    } finally {
      await this.handle?.close().catch(() => undefined);
      this.handle = undefined;
    }
  }

  close(): void {
    this.closed = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
