/**
 * Clients for Rekor v1 (`/api/v1/...`) and Rekor v2 (`POST /api/v2/log/entries`), and the builders for
 * what they are sent. Upload results come back as protobuf-specs TransparencyLogEntry protojson, the form
 * a bundle stores; v1 responses are converted the way Rekor's own `GenerateTransparencyLogEntry` does.
 * The only I/O is `fetch`; everything else here is pure.
 */
import { createHash } from 'node:crypto';
import { SignetError } from '../errors.js';
import { clientNet, inContext, isTimeout, netOptions, sleep, type NetOptions } from '../net.js';
import { encodePem, sigstoreKeyDetails, type PublicKeyInfo } from '../keys/index.js';
import { parseEntryId } from '../tlog/index.js';
import type { TlogEntryJSON } from './bundle.js';
import { decodeBase64Strict, type HashAlg } from './encoding.js';
import { serviceExchange, serviceFetch, type ServiceResponse } from './http.js';

export interface RekorClientOptions extends NetOptions {
  /** Base URL of the log, e.g. http://127.0.0.1:3000 (no /api suffix). */
  baseUrl: string;
  /** Attempts for 5xx/429 answers and dropped connections (default 4). */
  attempts?: number;
  /** Shorthand for `timeouts`: both the headers and the body-idle bound (default 30 s each: Rekor v2 may take 10 s per write). */
  timeoutMs?: number;
  fetch?: typeof serviceFetch;
}

interface HttpResult {
  status: number;
  headers: ServiceResponse['headers'];
  body: Buffer;
}

const RETRYABLE = new Set([429, 500, 502, 503, 504]);
/**
 * Bound on one answer of the log. v1 entries are a few KiB (the body holds a hash, a signature and a
 * certificate; attestations are stored apart), search answers are lists of 64–80 hex IDs: 16 MiB is far
 * above both and is what a hostile log can make us hold.
 */
const MAX_ANSWER = 16 * 1024 * 1024;

function trimUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new SignetError('USAGE', `transparency log URL ${JSON.stringify(u)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SignetError('USAGE', `transparency log URL ${u} must be http or https`);
  return u.replace(/\/+$/, '');
}

/** Rekor's error body is `{"code": n, "message": "..."}`; fall back to the text. */
function errorMessage(body: Buffer): string {
  const text = body.toString('utf8').slice(0, 500);
  try {
    const j = JSON.parse(text) as { message?: unknown };
    if (typeof j.message === 'string' && j.message) return j.message;
  } catch {
    // not JSON
  }
  return text.replace(/\s+/g, ' ').trim() || '(no message)';
}

class Http {
  readonly baseUrl: string;
  private readonly attempts: number;
  private readonly net: NetOptions;
  private readonly fetchImpl: typeof serviceFetch;

  constructor(o: RekorClientOptions) {
    this.baseUrl = trimUrl(o.baseUrl);
    this.attempts = o.attempts ?? 4;
    this.net = clientNet(o);
    this.fetchImpl = o.fetch ?? serviceFetch;
  }

  /** Sends a request, retrying transient failures; returns any final HTTP answer (the caller judges the status). */
  async request(method: 'GET' | 'POST', path: string, body?: unknown, accept = 'application/json'): Promise<HttpResult> {
    const url = this.baseUrl + path;
    let lastError = '';
    const { signal } = netOptions(this.net);
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      let res: ServiceResponse;
      let buf: Buffer;
      try {
        ({ res, body: buf } = await serviceExchange(
          url,
          {
            method,
            headers: { accept, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
            body: body === undefined ? undefined : JSON.stringify(body),
            redirect: 'error',
          },
          this.net,
          MAX_ANSWER,
          `the answer of the transparency log ${this.baseUrl}`,
          this.fetchImpl,
        ));
      } catch (e) {
        // A timeout would repeat; an oversized answer is the log's own doing.
        if (e instanceof SignetError && isTimeout(e)) throw inContext(e, `transparency log ${this.baseUrl}`);
        if (e instanceof SignetError) throw e;
        const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
        lastError = `${cause ?? 'error'}`;
        // A refused connection will not be accepted a moment later; fail at once and say where.
        if (cause === 'ECONNREFUSED' || cause === 'ENOTFOUND' || attempt === this.attempts) {
          throw new SignetError('NETWORK', `cannot reach the transparency log at ${this.baseUrl}: ${lastError}`, { cause: e });
        }
        await sleep(100 * 2 ** attempt, signal, `waiting to retry the transparency log ${this.baseUrl}`);
        continue;
      }
      if (RETRYABLE.has(res.status) && attempt < this.attempts) {
        const retryAfter = Number(res.headers.get('retry-after'));
        await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 10) * 1000 : 100 * 2 ** attempt, signal, `waiting to retry the transparency log ${this.baseUrl}`);
        lastError = `HTTP ${res.status}`;
        continue;
      }
      return { status: res.status, headers: res.headers, body: buf };
    }
    throw new SignetError('NETWORK', `transparency log at ${this.baseUrl} kept failing: ${lastError}`);
  }

  fail(r: HttpResult, what: string): never {
    const msg = errorMessage(r.body);
    const code = r.status === 404 ? 'NOT_FOUND' : 'TLOG';
    throw new SignetError(code, `transparency log ${this.baseUrl} ${what}: HTTP ${r.status}: ${msg}`);
  }

  json(r: HttpResult, what: string): unknown {
    try {
      return JSON.parse(r.body.toString('utf8'));
    } catch {
      throw new SignetError('MALFORMED', `transparency log ${this.baseUrl} ${what}: the answer is not JSON`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Rekor v1

/** One Rekor v1 LogEntry, flattened (the API wraps it in `{ "<entryID>": {...} }`). */
export interface V1LogEntry {
  /** 80-hex entry ID (or 64-hex UUID) as the server keyed it. */
  uuid: string;
  body: string;
  integratedTime: number;
  logID: string;
  logIndex: number;
  verification?: {
    signedEntryTimestamp?: string;
    inclusionProof?: { checkpoint: string; hashes: string[]; logIndex: number; rootHash: string; treeSize: number };
  };
}

export interface V1LogInfo {
  rootHash: string;
  treeSize: number;
  signedTreeHead: string;
  treeID: string;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses the `{entryID: LogEntry}` map; throws MALFORMED on anything else. */
export function parseV1LogEntry(doc: unknown, where: string): V1LogEntry {
  const bad = (why: string): never => {
    throw new SignetError('MALFORMED', `${where}: log entry ${why}`);
  };
  if (!isObj(doc)) bad('is not a JSON object');
  const keys = Object.keys(doc as object);
  if (keys.length !== 1) bad(`has ${keys.length} entries, expected exactly one`);
  const uuid = keys[0]!;
  if (!/^([0-9a-f]{64}|[0-9a-f]{80})$/.test(uuid)) bad(`is keyed by ${JSON.stringify(uuid.slice(0, 100))}, not an entry UUID`);
  const e = (doc as Record<string, unknown>)[uuid];
  if (!isObj(e)) bad('is not an object');
  const o = e as Record<string, unknown>;
  if (typeof o.body !== 'string') bad('has no body');
  if (!nonNegInt(o.integratedTime)) bad('has no integratedTime');
  if (typeof o.logID !== 'string' || !/^[0-9a-f]{64}$/.test(o.logID)) bad('has no hex logID');
  if (!nonNegInt(o.logIndex)) bad('has no logIndex');
  const out: V1LogEntry = { uuid, body: o.body as string, integratedTime: o.integratedTime as number, logID: o.logID as string, logIndex: o.logIndex as number };
  if (o.verification !== undefined && o.verification !== null) {
    if (!isObj(o.verification)) bad('verification is not an object');
    const v = o.verification as Record<string, unknown>;
    out.verification = {};
    if (v.signedEntryTimestamp !== undefined) {
      if (typeof v.signedEntryTimestamp !== 'string') bad('signedEntryTimestamp is not a string');
      out.verification.signedEntryTimestamp = v.signedEntryTimestamp as string;
    }
    if (v.inclusionProof !== undefined && v.inclusionProof !== null) {
      const p = v.inclusionProof as Record<string, unknown>;
      if (!isObj(p) || typeof p.checkpoint !== 'string' || !Array.isArray(p.hashes) || !p.hashes.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h)) || !nonNegInt(p.logIndex) || typeof p.rootHash !== 'string' || !/^[0-9a-f]{64}$/.test(p.rootHash) || !nonNegInt(p.treeSize)) {
        bad('has a malformed inclusion proof');
      }
      out.verification.inclusionProof = p as unknown as NonNullable<V1LogEntry['verification']>['inclusionProof'];
    }
  }
  return out;
}

/** A v1 LogEntry as a bundle's TransparencyLogEntry (protojson). */
export function v1EntryToBundleEntry(e: V1LogEntry): TlogEntryJSON {
  let kind = '';
  let version = '';
  try {
    const body = JSON.parse(decodeBase64Strict(e.body, 'log entry body').toString('utf8')) as { kind?: unknown; apiVersion?: unknown };
    if (typeof body.kind === 'string') kind = body.kind;
    if (typeof body.apiVersion === 'string') version = body.apiVersion;
  } catch {
    // reported below
  }
  if (!kind || !version) throw new SignetError('MALFORMED', `log entry ${e.uuid} has a body without kind and apiVersion`);
  const out: TlogEntryJSON = {
    logIndex: String(e.logIndex),
    logId: { keyId: Buffer.from(e.logID, 'hex').toString('base64') },
    kindVersion: { kind, version },
    integratedTime: String(e.integratedTime),
    canonicalizedBody: Buffer.from(decodeBase64Strict(e.body, 'log entry body')).toString('base64'),
  };
  const v = e.verification;
  if (v?.signedEntryTimestamp) out.inclusionPromise = { signedEntryTimestamp: v.signedEntryTimestamp };
  if (v?.inclusionProof) {
    const p = v.inclusionProof;
    out.inclusionProof = {
      logIndex: String(p.logIndex),
      rootHash: Buffer.from(p.rootHash, 'hex').toString('base64'),
      treeSize: String(p.treeSize),
      hashes: p.hashes.map((h) => Buffer.from(h, 'hex').toString('base64')),
      checkpoint: { envelope: p.checkpoint },
    };
  }
  return out;
}

/** cosign's `dev.sigstore.cosign/bundle` annotation value for a v1 entry (needs its SET). */
export function rekorBundleAnnotation(e: V1LogEntry): string {
  const set = e.verification?.signedEntryTimestamp;
  if (!set) throw new SignetError('TLOG', `log entry ${e.uuid} came without a signed entry timestamp`);
  return JSON.stringify({ SignedEntryTimestamp: set, Payload: { body: e.body, integratedTime: e.integratedTime, logIndex: e.logIndex, logID: e.logID } });
}

/** hashedrekord v0.0.1 proposed entry: a signature over a digest, with the signer's PEM key or certificate. */
export function hashedrekordV001(args: { hashAlg: HashAlg; digest: Buffer; signature: Buffer; verifierPem: string }): Record<string, unknown> {
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: args.hashAlg, value: args.digest.toString('hex') } },
      signature: { content: args.signature.toString('base64'), publicKey: { content: Buffer.from(args.verifierPem).toString('base64') } },
    },
  };
}

/** dsse v0.0.1 proposed entry: the envelope JSON exactly as it will be stored, and the verifier PEMs. */
export function dsseV001(args: { envelopeJson: string; verifierPems: string[] }): Record<string, unknown> {
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: { proposedContent: { envelope: args.envelopeJson, verifiers: args.verifierPems.map((p) => Buffer.from(p).toString('base64')) } },
  };
}

export interface SearchQuery {
  /** "sha256:<hex>" or bare hex. */
  hash?: string;
  /** PEM public key or certificate (x509 format). */
  publicKeyPem?: string;
  email?: string;
  operator?: 'and' | 'or';
}

export class RekorV1Client {
  private readonly http: Http;

  constructor(opts: RekorClientOptions) {
    this.http = new Http(opts);
  }

  get baseUrl(): string {
    return this.http.baseUrl;
  }

  /** Uploads a proposed entry; an entry the log already has (409) is fetched and returned instead. */
  async createEntry(proposed: Record<string, unknown>): Promise<{ entry: V1LogEntry; existed: boolean }> {
    const r = await this.http.request('POST', '/api/v1/log/entries', proposed);
    if (r.status === 201 || r.status === 200) return { entry: parseV1LogEntry(this.http.json(r, 'creating an entry'), 'creating an entry'), existed: false };
    if (r.status === 409) {
      const location = r.headers.get('location');
      const id = location?.split('/').pop();
      if (!id) this.http.fail(r, 'reports a duplicate entry without its location');
      return { entry: await this.getByUuid(id!), existed: true };
    }
    this.http.fail(r, 'refused the entry');
  }

  async getByIndex(logIndex: number): Promise<V1LogEntry> {
    if (!Number.isSafeInteger(logIndex) || logIndex < 0) throw new SignetError('USAGE', `log index must be a non-negative integer, got ${logIndex}`);
    const r = await this.http.request('GET', `/api/v1/log/entries?logIndex=${logIndex}`);
    if (r.status !== 200) this.http.fail(r, `has no entry at index ${logIndex}`);
    return parseV1LogEntry(this.http.json(r, 'entry by index'), `entry ${logIndex}`);
  }

  async getByUuid(uuid: string): Promise<V1LogEntry> {
    parseEntryId(uuid);
    const r = await this.http.request('GET', `/api/v1/log/entries/${uuid.toLowerCase()}`);
    if (r.status !== 200) this.http.fail(r, `has no entry ${uuid}`);
    return parseV1LogEntry(this.http.json(r, 'entry by UUID'), `entry ${uuid}`);
  }

  /** Entry UUIDs matching the query (Rekor's search index). */
  async searchIndex(q: SearchQuery): Promise<string[]> {
    const body: Record<string, unknown> = {};
    if (q.hash) body.hash = q.hash.toLowerCase();
    if (q.email) body.email = q.email;
    if (q.publicKeyPem) body.publicKey = { format: 'x509', content: Buffer.from(q.publicKeyPem).toString('base64') };
    if (Object.keys(body).length === 0) throw new SignetError('USAGE', 'a search needs a hash, a public key or an email');
    if (q.operator) body.operator = q.operator;
    const r = await this.http.request('POST', '/api/v1/index/retrieve', body);
    if (r.status !== 200) this.http.fail(r, 'refused the search');
    const doc = this.http.json(r, 'search');
    if (!Array.isArray(doc) || !doc.every((u) => typeof u === 'string')) throw new SignetError('MALFORMED', `transparency log ${this.baseUrl} search: the answer is not a list of UUIDs`);
    return doc as string[];
  }

  async logInfo(): Promise<V1LogInfo> {
    const r = await this.http.request('GET', '/api/v1/log');
    if (r.status !== 200) this.http.fail(r, 'log info');
    const d = this.http.json(r, 'log info') as Record<string, unknown>;
    if (!isObj(d) || typeof d.rootHash !== 'string' || !nonNegInt(d.treeSize) || typeof d.signedTreeHead !== 'string' || typeof d.treeID !== 'string') {
      throw new SignetError('MALFORMED', `transparency log ${this.baseUrl} log info is malformed`);
    }
    return { rootHash: d.rootHash, treeSize: d.treeSize, signedTreeHead: d.signedTreeHead, treeID: d.treeID };
  }

  async consistencyProof(firstSize: number, lastSize: number, treeId?: string): Promise<{ rootHash: string; hashes: string[] }> {
    const q = `firstSize=${firstSize}&lastSize=${lastSize}${treeId ? `&treeID=${encodeURIComponent(treeId)}` : ''}`;
    const r = await this.http.request('GET', `/api/v1/log/proof?${q}`);
    if (r.status !== 200) this.http.fail(r, `consistency proof ${firstSize}..${lastSize}`);
    const d = this.http.json(r, 'consistency proof') as Record<string, unknown>;
    if (!isObj(d) || !Array.isArray(d.hashes) || !d.hashes.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) {
      throw new SignetError('MALFORMED', `transparency log ${this.baseUrl} consistency proof is malformed`);
    }
    return { rootHash: String(d.rootHash ?? ''), hashes: d.hashes as string[] };
  }

  /**
   * Entries by log index through `POST /api/v1/log/entries/retrieve` (Rekor answers at most 10 per
   * request), returned in the order asked; an index the log does not have is a NOT_FOUND error.
   */
  async retrieveByIndexes(indexes: readonly number[]): Promise<V1LogEntry[]> {
    if (indexes.length === 0) return [];
    const r = await this.http.request('POST', '/api/v1/log/entries/retrieve', { logIndexes: indexes });
    if (r.status !== 200) this.http.fail(r, `entries ${indexes[0]}..${indexes[indexes.length - 1]}`);
    const doc = this.http.json(r, 'entries by index');
    if (!Array.isArray(doc)) throw new SignetError('MALFORMED', `transparency log ${this.baseUrl} entries by index: the answer is not a list`);
    const byIndex = new Map<number, V1LogEntry>();
    for (const item of doc) {
      const e = parseV1LogEntry(item, `transparency log ${this.baseUrl} entries by index`);
      byIndex.set(e.logIndex, e);
    }
    return indexes.map((i) => {
      const e = byIndex.get(i);
      if (!e) throw new SignetError('NOT_FOUND', `transparency log ${this.baseUrl} did not return entry ${i}`);
      return e;
    });
  }

  /** The log's public key, PEM. */
  async publicKey(): Promise<string> {
    const r = await this.http.request('GET', '/api/v1/log/publicKey', undefined, 'application/x-pem-file');
    if (r.status !== 200) this.http.fail(r, 'public key');
    return r.body.toString('utf8');
  }
}

// ---------------------------------------------------------------------------------------------------
// Rekor v2

/** protobuf-specs PublicKeyDetails for a signing key. */
export function keyDetailsFor(key: PublicKeyInfo): string {
  return sigstoreKeyDetails(key.key);
}

/** `hashedRekordRequestV002`: a signature over a digest, with the key (DER SPKI) or the certificate (DER). */
/** The hash algorithm is not sent: Rekor v2 derives it from keyDetails. */
export function hashedRekordRequestV002(args: { digest: Buffer; signature: Buffer; key: PublicKeyInfo; certificate?: Buffer }): Record<string, unknown> {
  return {
    hashedRekordRequestV002: {
      digest: args.digest.toString('base64'),
      signature: {
        content: args.signature.toString('base64'),
        verifier: {
          ...(args.certificate ? { x509Certificate: { rawBytes: args.certificate.toString('base64') } } : { publicKey: { rawBytes: args.key.spkiDer.toString('base64') } }),
          keyDetails: keyDetailsFor(args.key),
        },
      },
    },
  };
}

export class RekorV2Client {
  private readonly http: Http;

  constructor(opts: RekorClientOptions) {
    this.http = new Http(opts);
  }

  get baseUrl(): string {
    return this.http.baseUrl;
  }

  /**
   * Uploads an entry and returns the TransparencyLogEntry. On 409 the log names the existing index
   * (`x-log-index`); Rekor v2 has no read API, so we fetch that entry through the v1 API of the same
   * server when it offers one (ours does).
   */
  async createEntry(request: Record<string, unknown>): Promise<TlogEntryJSON> {
    const r = await this.http.request('POST', '/api/v2/log/entries', request);
    if (r.status === 201 || r.status === 200) return parseTlogEntry(this.http.json(r, 'creating an entry'), this.baseUrl);
    if (r.status === 409) {
      const idx = Number(r.headers.get('x-log-index'));
      if (!Number.isSafeInteger(idx) || idx < 0) this.http.fail(r, 'reports a duplicate entry without its index');
      const v1 = new RekorV1Client({ baseUrl: this.baseUrl });
      try {
        return v1EntryToBundleEntry(await v1.getByIndex(idx));
      } catch (e) {
        throw new SignetError('TLOG', `transparency log ${this.baseUrl} already has this entry at index ${idx}, and it could not be fetched: ${(e as Error).message}`);
      }
    }
    this.http.fail(r, 'refused the entry');
  }
}

/**
 * The C2SP tlog-tiles read API of a log (Rekor v2's, under `<url>/api/v2/`): the signed checkpoint,
 * Merkle tiles and entry bundles. Answers are returned as read; callers verify them.
 */
export class TileLogClient {
  private readonly http: Http;
  readonly prefix: string;

  constructor(opts: RekorClientOptions & { prefix?: string }) {
    this.http = new Http(opts);
    this.prefix = opts.prefix ?? '/api/v2';
  }

  get baseUrl(): string {
    return this.http.baseUrl;
  }

  /** The signed checkpoint note, or undefined when the log serves no tiles. */
  async checkpoint(): Promise<string | undefined> {
    const r = await this.http.request('GET', `${this.prefix}/checkpoint`, undefined, 'text/plain');
    // A log without the tile API answers 404 (or 400/405/501 from a router that knows no such path).
    if ([400, 404, 405, 501].includes(r.status)) return undefined;
    if (r.status !== 200) this.http.fail(r, 'checkpoint');
    return r.body.toString('utf8');
  }

  /**
   * A tile or entry bundle (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`) at `width`. A partial
   * resource the log no longer serves (C2SP lets it go once the full one exists) is read from the wider
   * one, cut to `width` by the caller's `cut`.
   */
  async resource(path: string, fullPath: string | undefined): Promise<Buffer | undefined> {
    const r = await this.http.request('GET', `${this.prefix}/${path}`, undefined, 'application/octet-stream');
    if (r.status === 200) return r.body;
    if (r.status === 404 && fullPath !== undefined) {
      const f = await this.http.request('GET', `${this.prefix}/${fullPath}`, undefined, 'application/octet-stream');
      if (f.status === 200) return f.body;
      if (f.status !== 404) this.http.fail(f, fullPath);
      return undefined;
    }
    if (r.status === 404) return undefined;
    this.http.fail(r, path);
  }
}

function parseTlogEntry(doc: unknown, where: string): TlogEntryJSON {
  if (!isObj(doc)) throw new SignetError('MALFORMED', `${where}: the created entry is not a JSON object`);
  for (const f of ['logIndex', 'logId', 'kindVersion', 'canonicalizedBody', 'inclusionProof']) {
    if (doc[f] === undefined || doc[f] === null) throw new SignetError('MALFORMED', `${where}: the created entry has no ${f}`);
  }
  const out = { ...doc } as TlogEntryJSON;
  // EmitUnpopulated writes `"inclusionPromise": null`; a bundle leaves absent messages out.
  if (out.inclusionPromise === null) delete out.inclusionPromise;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Which log, and uploading to it

export interface TlogTarget {
  url: string;
  majorApiVersion: 1 | 2;
}

/**
 * The Rekor to use from a signing config (`rekorTlogUrls`): the highest API version we speak, valid now,
 * newest start first (the sigstore client rules).
 */
export function tlogFromSigningConfig(bytes: Buffer, now = new Date()): TlogTarget {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', 'signing config is not valid JSON');
  }
  if (!isObj(doc)) throw new SignetError('MALFORMED', 'signing config is not a JSON object');
  if (typeof doc.mediaType !== 'string' || !doc.mediaType.startsWith('application/vnd.dev.sigstore.signingconfig')) {
    throw new SignetError('MALFORMED', `signing config media type ${JSON.stringify(doc.mediaType)} is not a Sigstore signing config`);
  }
  const urls = doc.rekorTlogUrls ?? [];
  if (!Array.isArray(urls)) throw new SignetError('MALFORMED', 'signing config rekorTlogUrls is not a list');
  const candidates: Array<TlogTarget & { start: number }> = [];
  for (const [i, u] of urls.entries()) {
    if (!isObj(u) || typeof u.url !== 'string' || !Number.isInteger(u.majorApiVersion)) throw new SignetError('MALFORMED', `signing config rekorTlogUrls[${i}] needs a url and a majorApiVersion`);
    const v = u.majorApiVersion as number;
    if (v !== 1 && v !== 2) continue;
    const vf = isObj(u.validFor) ? u.validFor : {};
    const start = typeof vf.start === 'string' ? Date.parse(vf.start) : 0;
    const end = typeof vf.end === 'string' ? Date.parse(vf.end) : Infinity;
    if (Number.isNaN(start) || Number.isNaN(end)) throw new SignetError('MALFORMED', `signing config rekorTlogUrls[${i}].validFor is not a valid period`);
    if (start > now.getTime() || end < now.getTime()) continue;
    candidates.push({ url: u.url, majorApiVersion: v, start });
  }
  candidates.sort((a, b) => b.majorApiVersion - a.majorApiVersion || b.start - a.start);
  const best = candidates[0];
  if (!best) throw new SignetError('TLOG', 'the signing config lists no Rekor (API version 1 or 2) valid now');
  return { url: best.url, majorApiVersion: best.majorApiVersion };
}

/** What gets logged for one signature. */
/** What is logged; `certificate` (DER leaf) makes keyless entries name the certificate, not the bare key. */
export type UploadMaterial =
  | { kind: 'digest'; hashAlg: HashAlg; digest: Buffer; signature: Buffer; key: PublicKeyInfo; certificate?: Buffer }
  | { kind: 'dsse'; envelopeJson: string; pae: Buffer; signature: Buffer; key: PublicKeyInfo; certificate?: Buffer };

/**
 * Logs a signature and returns the bundle's TransparencyLogEntry. v1: hashedrekord 0.0.1 for digests,
 * dsse 0.0.1 for envelopes. v2: hashedrekord 0.0.2; for DSSE over the PAE's digest, as Rekor v2 expects
 * since it dropped its dsse type.
 */
export async function uploadToTlog(target: TlogTarget, m: UploadMaterial, opts: Omit<RekorClientOptions, 'baseUrl'> = {}): Promise<TlogEntryJSON> {
  if (target.majorApiVersion === 1) {
    const client = new RekorV1Client({ ...opts, baseUrl: target.url });
    const verifierPem = m.certificate ? encodePem('CERTIFICATE', m.certificate) : m.key.pem;
    const proposed =
      m.kind === 'digest'
        ? hashedrekordV001({ hashAlg: m.hashAlg, digest: m.digest, signature: m.signature, verifierPem })
        : dsseV001({ envelopeJson: m.envelopeJson, verifierPems: [verifierPem] });
    return v1EntryToBundleEntry((await client.createEntry(proposed)).entry);
  }
  const client = new RekorV2Client({ ...opts, baseUrl: target.url });
  const hashAlg = m.key.hash ?? 'sha512';
  const digest = m.kind === 'digest' ? m.digest : createHash(hashAlg).update(m.pae).digest();
  return client.createEntry(hashedRekordRequestV002({ digest, signature: m.signature, key: m.key, certificate: m.certificate }));
}
