/**
 * Rekor v1 and v2 HTTP APIs over one TransparencyLog. Entries are validated and their signatures verified
 * (src/rekor) before they are appended; every entry returned carries an inclusion proof against a signed
 * checkpoint, and v1 entries a SET.
 */
import { SignetError } from '../../errors.js';
import {
  type CanonicalEntry,
  type V1LogEntry,
  type V1LogEntryInput,
  buildV1LogEntry,
  buildV2TransparencyLogEntry,
  bodyKind,
  canonicalizeProposedEntry,
  v1EntryId,
  v1LogEntryBytes,
  v1SetPayload,
  verifierFromPem,
} from '../../rekor/index.js';
import { decodeBase64Strict } from '../../sigstore/index.js';
import { leafHash, noteKeyHash, parseEntryId, parseTilePath, rootFromInclusionProof } from '../../tlog/index.js';
import type { SignedCheckpoint, StoredEntry, SharedWriteMetrics, TileCacheMetrics, TransparencyLog } from '../log/types.js';
import type { Metrics } from './metrics.js';
import { type EntryVerifier, inlineVerifier } from './verify-pool.js';
import { HttpError, type Reply, type RequestContext, type Router } from './router.js';

/** Rekor's `maxSearchQueries`: entries/retrieve answers at most this many items per request. */
export const MAX_RETRIEVE = 10;

const SEARCH_RESULT_LIMIT = 10_000;

/**
 * SETs kept once signed, by log index (~200 B each with the map's overhead: ~3 MiB). A SET signs the
 * entry's body, integratedTime, logIndex and logID, all fixed when the entry was integrated, so the one
 * made for a write's answer (or a first read) stays valid for every later read of that entry: the reads
 * that follow a write — a client fetching its new entry, a verifier — cost no ECDSA signature. Held in
 * memory only; an entry that is not in it is signed again.
 */
const SET_CACHE_ENTRIES = 16_384;

/**
 * The SET cache: direct-mapped by log index (slot = index mod size), so a lookup or an insert is an array
 * access, with no key string, hashing or recency bookkeeping per answer. Writes fill consecutive slots,
 * so the newest `size` entries written stay cached; a read of an older entry takes its slot.
 */
export class SetCache {
  readonly #index: Float64Array;
  readonly #set: (string | undefined)[];
  readonly #mask: number;

  /** `size`: a power of two. */
  constructor(size: number) {
    this.#index = new Float64Array(size).fill(-1);
    this.#set = new Array<string | undefined>(size).fill(undefined);
    this.#mask = size - 1;
  }

  get(index: number): string | undefined {
    const slot = index & this.#mask;
    return this.#index[slot] === index ? this.#set[slot] : undefined;
  }

  set(index: number, set: string): void {
    const slot = index & this.#mask;
    this.#index[slot] = index;
    this.#set[slot] = set;
  }
}

/** Headers of tile answers: full tiles never change; a partial tile is replaced by a wider one as the tree grows. */
const FULL_TILE_HEADERS = Object.freeze({ 'content-type': 'application/octet-stream', 'cache-control': 'max-age=31536000, immutable' });
const PARTIAL_TILE_HEADERS = Object.freeze({ 'content-type': 'application/octet-stream', 'cache-control': 'max-age=10' });

/** `sign` of a V1LogEntryInput whose SET is given (never called). */
const noSign = (): Uint8Array => new Uint8Array(0);

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function intParam(v: string | null, name: string, required: boolean, min: number): number | undefined {
  if (v === null || v === '') {
    if (required) throw new HttpError(400, `query parameter ${name} is required`);
    return undefined;
  }
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new HttpError(400, `query parameter ${name} must be a non-negative integer`);
  const n = Number(v);
  if (n < min) throw new HttpError(400, `query parameter ${name} must be at least ${min}`);
  return n;
}

export interface RekorRoutesOptions {
  metrics?: Metrics;
  /** Where submissions are parsed and signature-checked; default: on the event loop. */
  verifier?: EntryVerifier;
  /**
   * Witness cosigning (`serve --witness`): the published checkpoint is the newest cosigned one, answers
   * carry it when it covers their entry, and with `waitForQuorum` a write's answer waits for one that does.
   */
  witnesses?: { latest(): SignedCheckpoint | undefined; waitFor(size: number): Promise<SignedCheckpoint>; waitForQuorum: boolean };
}

export function registerRekorRoutes(router: Router, log: TransparencyLog, opts: RekorRoutesOptions = {}): void {
  const signatureName = log.origin.split(' - ')[0]!.trim();
  // v2 clients find the log by its checkpoint key: the C2SP key hash (for ECDSA that is SHA-256 of the SPKI).
  const v2KeyId = Buffer.from(noteKeyHash(signatureName, log.publicKey));
  const publicKeyPem = log.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const treeIdDecimal = log.treeId.toString();
  const verifier = opts.verifier ?? inlineVerifier();
  const sets = new SetCache(SET_CACHE_ENTRIES);
  /** The SET storage kept for entry `e` (checked there: a changed or moved one never comes back), base64. */
  function storedSet(e: StoredEntry): string | undefined {
    const sig = log.storedSet(e);
    return sig && Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength).toString('base64');
  }

  const witnesses = opts.witnesses;
  /** The checkpoint an answer about entry `index` carries: a cosigned one where there is one that covers it. */
  async function answerCheckpoint(index: number, live: SignedCheckpoint, write: boolean): Promise<SignedCheckpoint> {
    if (!witnesses) return live;
    const cosigned = witnesses.latest();
    if (cosigned && cosigned.size > index) return cosigned;
    if (!write || !witnesses.waitForQuorum) return live;
    try {
      return await witnesses.waitFor(index + 1);
    } catch (e) {
      throw new HttpError(503, (e as Error).message);
    }
  }

  async function proofAt(index: number, cp: SignedCheckpoint): Promise<{ treeSize: number; rootHash: Buffer; hashes: Buffer[]; checkpoint: string }> {
    const hashes = await log.inclusionProof(index, cp.size);
    return { treeSize: cp.size, rootHash: cp.rootHash, hashes, checkpoint: cp.note };
  }

  /**
   * What a v1 LogEntry is built from: the entry, its inclusion proof and its SET. The SET (one ECDSA
   * signature per entry) is made off the event loop when the verifier can sign (thread pool or workers),
   * and kept (`sets`) for the reads that follow.
   */
  async function v1Parts(e: StoredEntry, cp?: SignedCheckpoint, write = false): Promise<V1LogEntryInput & { set: string }> {
    // The checkpoint is fetched after the entry so that it always covers it.
    const live = cp ?? (await log.checkpoint());
    const checkpoint = witnesses ? await answerCheckpoint(e.index, live, write) : live;
    const proof = { treeSize: checkpoint.size, rootHash: checkpoint.rootHash, hashes: await log.inclusionProof(e.index, checkpoint.size), checkpoint: checkpoint.note };
    const key = e.index;
    const bodyBase64 = e.body.toString('base64');
    // Signed before: by this process (the cache), or by the write, kept in storage. A write's entry was
    // just appended: storage cannot hold its SET yet, so it is not asked.
    let set = sets.get(key);
    if (set === undefined) {
      set = write ? undefined : storedSet(e);
      if (set === undefined) {
        const payload = v1SetPayload(log.logId, e, bodyBase64);
        // Should the pool fail (a worker died, shutdown), sign here rather than answer 500 for an entry
        // that is in the log.
        const signature = verifier.sign ? await verifier.sign(payload).catch(() => log.sign(payload)) : log.sign(payload);
        set = signature.toString('base64');
        // A write's SET is also handed (sealed) to storage for later reads. A read's is only cached: storing
        // one cost a first read of a never-read entry (an imported log's) ~20 µs more, for a rare re-read.
        if (write) log.keepSet(e, signature);
      }
      sets.set(key, set);
    }
    return { treeId: log.treeId, logId: log.logId, entry: e, proof, bodyBase64, sign: noSign, set, sharedProof: write };
  }

  /** A v1 LogEntry with its inclusion proof and SET. */
  async function v1Entry(e: StoredEntry, cp?: SignedCheckpoint, write = false): Promise<V1LogEntry> {
    return buildV1LogEntry(await v1Parts(e, cp, write));
  }

  /**
   * A read's answer for one entry, written out as a write's is (v1LogEntryBytes: the bytes JSON.stringify
   * would give, without the object or the transcoding that the checkpoint's "—" forced on the string).
   */
  async function v1EntryReply(e: StoredEntry): Promise<Reply> {
    return { status: 200, headers: { 'content-type': 'application/json' }, body: v1LogEntryBytes(await v1Parts(e)) };
  }

  async function append(entry: CanonicalEntry): Promise<Awaited<ReturnType<TransparencyLog['append']>>> {
    const metrics = opts.metrics;
    if (!metrics) return log.append({ body: entry.body, indexKeys: entry.indexKeys });
    const t0 = performance.now();
    const r = await log.append({ body: entry.body, indexKeys: entry.indexKeys });
    metrics.append(performance.now() - t0);
    return r;
  }

  const entryUrl = (ctx: RequestContext, id: string): string => `${ctx.baseUrl}/api/v1/log/entries/${id}`;

  // ---- Rekor v1 ----
  router.add('POST', '/api/v1/log/entries', '/api/v1/log/entries', async (ctx) => {
    const entry = await verifier.canonicalize(1, await ctx.body());
    const r = await append(entry);
    const id = v1EntryId(log.treeId, r.entry.body, r.entry.leafHash);
    if (r.status === 'duplicate') {
      throw new HttpError(409, `an equivalent entry already exists in the transparency log with UUID ${id.slice(16)}`, { location: entryUrl(ctx, id) });
    }
    // The answer is written out directly (v1LogEntryBytes: the bytes JSON.stringify would give).
    const bytes = v1LogEntryBytes(await v1Parts(r.entry, r.checkpoint, true));
    return { status: 201, headers: { 'content-type': 'application/json', etag: id, location: entryUrl(ctx, id) }, body: bytes };
  });

  router.add('GET', '/api/v1/log/entries/{entryUUID}', /^\/api\/v1\/log\/entries\/(?<id>[^/]+)$/, async (ctx) => {
    let parsed: { treeId?: bigint; uuid: string };
    try {
      parsed = parseEntryId(ctx.params.id!);
    } catch (e) {
      if (e instanceof SignetError) throw new HttpError(400, e.message);
      throw e;
    }
    if (parsed.treeId !== undefined && parsed.treeId !== log.treeId) throw new HttpError(404, `entry ${ctx.params.id} is not in this log (tree ${treeIdDecimal})`);
    const e = await log.entryByLeafHash(Buffer.from(parsed.uuid, 'hex'));
    if (!e) throw new HttpError(404, `no entry with UUID ${parsed.uuid}`);
    return v1EntryReply(e);
  });

  router.add('GET', '/api/v1/log/entries', '/api/v1/log/entries', async (ctx) => {
    const index = intParam(ctx.url.searchParams.get('logIndex'), 'logIndex', true, 0)!;
    const e = await log.entryByIndex(index);
    if (!e) throw new HttpError(404, `no entry at log index ${index}`);
    return v1EntryReply(e);
  });

  router.add('POST', '/api/v1/log/entries/retrieve', '/api/v1/log/entries/retrieve', async (ctx) => {
    const q = await ctx.json();
    if (!isObj(q)) throw new HttpError(400, 'search query must be a JSON object');
    for (const k of Object.keys(q)) {
      if (!['entryUUIDs', 'logIndexes', 'entries'].includes(k)) throw new HttpError(400, `search query has unknown field ${JSON.stringify(k)}`);
    }
    const lists = { entryUUIDs: q.entryUUIDs ?? [], logIndexes: q.logIndexes ?? [], entries: q.entries ?? [] };
    for (const [k, v] of Object.entries(lists)) if (!Array.isArray(v)) throw new HttpError(400, `${k} must be an array`);
    const uuids = lists.entryUUIDs as unknown[];
    const indexes = lists.logIndexes as unknown[];
    const proposed = lists.entries as unknown[];
    const total = uuids.length + indexes.length + proposed.length;
    if (total > MAX_RETRIEVE) throw new HttpError(422, `at most ${MAX_RETRIEVE} items may be retrieved per request, got ${total}`);
    const found: StoredEntry[] = [];
    for (const u of uuids) {
      if (typeof u !== 'string') throw new HttpError(400, 'entryUUIDs must hold strings');
      let p: { treeId?: bigint; uuid: string };
      try {
        p = parseEntryId(u);
      } catch (e) {
        throw new HttpError(400, (e as Error).message);
      }
      if (p.treeId !== undefined && p.treeId !== log.treeId) continue;
      const e = await log.entryByLeafHash(Buffer.from(p.uuid, 'hex'));
      if (e) found.push(e);
    }
    for (const i of indexes) {
      if (typeof i !== 'number' || !Number.isSafeInteger(i) || i < 0) throw new HttpError(400, 'logIndexes must hold non-negative integers');
      const e = await log.entryByIndex(i);
      if (e) found.push(e);
    }
    for (const p of proposed) {
      const c = canonicalizeProposedEntry(p);
      const e = await log.entryByLeafHash(leafHash(c.body) as Buffer);
      if (e) found.push(e);
    }
    const cp = await log.checkpoint();
    const out = [];
    for (const e of found) out.push(await v1Entry(e, cp));
    return json(200, out);
  });

  router.add('GET', '/api/v1/log', '/api/v1/log', async () => {
    const cp = await log.checkpoint();
    return json(200, { rootHash: cp.rootHash.toString('hex'), treeSize: cp.size, signedTreeHead: cp.note, treeID: treeIdDecimal });
  });

  router.add('GET', '/api/v1/log/proof', '/api/v1/log/proof', async (ctx) => {
    const sp = ctx.url.searchParams;
    const tree = sp.get('treeID');
    if (tree !== null && tree !== '' && tree !== treeIdDecimal) throw new HttpError(400, `unknown treeID ${tree.slice(0, 40)} (this log is ${treeIdDecimal})`);
    const first = intParam(sp.get('firstSize'), 'firstSize', false, 1) ?? 1;
    const last = intParam(sp.get('lastSize'), 'lastSize', true, 1)!;
    if (first > last) throw new HttpError(400, `firstSize(${first}) must be less than or equal to lastSize(${last})`);
    const cp = await log.checkpoint();
    if (last > cp.size) throw new HttpError(400, `the tree size requested(${last}) was greater than what is currently observable(${cp.size})`);
    const hashes = await log.consistencyProof(first, last);
    let root = cp.rootHash;
    if (last < cp.size) {
      // The root at an older size follows from the last leaf's inclusion proof at that size.
      const e = await log.entryByIndex(last - 1);
      if (!e) throw new Error(`entry ${last - 1} missing below the checkpoint`);
      root = Buffer.from(rootFromInclusionProof(e.leafHash, last - 1, last, await log.inclusionProof(last - 1, last)));
    }
    return json(200, { rootHash: root.toString('hex'), hashes: hashes.map((h) => h.toString('hex')) });
  });

  router.add('GET', '/api/v1/log/publicKey', '/api/v1/log/publicKey', (ctx) => {
    const tree = ctx.url.searchParams.get('treeID');
    if (tree !== null && tree !== '' && tree !== treeIdDecimal) throw new HttpError(404, `unknown treeID ${tree.slice(0, 40)}`);
    return { status: 200, headers: { 'content-type': 'application/x-pem-file' }, body: publicKeyPem };
  });

  router.add('POST', '/api/v1/index/retrieve', '/api/v1/index/retrieve', async (ctx) => {
    const q = await ctx.json();
    if (!isObj(q)) throw new HttpError(400, 'search index query must be a JSON object');
    for (const k of Object.keys(q)) {
      if (!['hash', 'publicKey', 'email', 'subject', 'operator'].includes(k)) throw new HttpError(400, `search index query has unknown field ${JSON.stringify(k)}`);
    }
    const op = q.operator ?? 'or';
    if (op !== 'and' && op !== 'or') throw new HttpError(400, 'operator must be "and" or "or"');
    const keys: string[] = [];
    if (q.hash !== undefined) {
      if (typeof q.hash !== 'string') throw new HttpError(400, 'hash must be a string');
      const h = q.hash.toLowerCase();
      const m = /^(?:(sha256|sha384|sha512|sha1):)?([0-9a-f]+)$/.exec(h);
      const lens: Record<string, number> = { sha1: 40, sha256: 64, sha384: 96, sha512: 128 };
      const alg = m?.[1] ?? 'sha256';
      if (!m || m[2]!.length !== lens[alg]) throw new HttpError(400, 'hash must be "<sha256|sha384|sha512>:<hex>" or 64 hex digits');
      keys.push(`${alg}:${m[2]}`);
    }
    if (q.publicKey !== undefined) {
      if (!isObj(q.publicKey)) throw new HttpError(400, 'publicKey must be an object');
      const { format, content } = q.publicKey;
      if (format !== 'x509') throw new HttpError(400, `publicKey format ${JSON.stringify(format)} is not supported (use x509)`);
      if (typeof content !== 'string') throw new HttpError(400, 'publicKey.content must be base64 of a PEM key or certificate');
      const v = verifierFromPem(decodeBase64Strict(content, 'publicKey.content').toString('utf8'), 'publicKey.content');
      keys.push(v.indexKeys[0]!);
    }
    for (const f of ['email', 'subject'] as const) {
      const v = q[f];
      if (v === undefined) continue;
      if (typeof v !== 'string' || v.length === 0 || v.length > 512) throw new HttpError(400, `${f} must be a string of 1 to 512 characters`);
      keys.push(v.toLowerCase());
    }
    if (keys.length === 0) throw new HttpError(400, 'give at least one of hash, publicKey, email, subject');
    let result: Set<number> | undefined;
    for (const k of keys) {
      const hits = new Set(await log.search(k));
      if (result === undefined) result = hits;
      else if (op === 'and') result = new Set([...result].filter((i) => hits.has(i)));
      else for (const i of hits) result.add(i);
    }
    const indices = [...(result ?? [])].sort((a, b) => a - b).slice(0, SEARCH_RESULT_LIMIT);
    const ids: string[] = [];
    for (const i of indices) {
      const e = await log.entryByIndex(i);
      if (e) ids.push(v1EntryId(log.treeId, e.body, e.leafHash));
    }
    return json(200, ids);
  });

  router.add('GET', '/ping', '/ping', () => ({ status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'pong' }));

  // ---- Rekor v2 ----
  router.add('POST', '/api/v2/log/entries', '/api/v2/log/entries', async (ctx) => {
    const entry = await verifier.canonicalize(2, await ctx.body());
    const r = await append(entry);
    if (r.status === 'duplicate') {
      throw new HttpError(409, `an equivalent entry already exists in the transparency log at index ${r.entry.index}`, { 'x-log-index': String(r.entry.index) });
    }
    const { kind, apiVersion } = bodyKind(r.entry.body);
    const cp = await answerCheckpoint(r.entry.index, r.checkpoint, true);
    return json(201, buildV2TransparencyLogEntry({ keyId: v2KeyId, kind, version: apiVersion, entry: r.entry, proof: await proofAt(r.entry.index, cp) }));
  });

  router.add('GET', '/api/v2/checkpoint', '/api/v2/checkpoint', async () => {
    // With witnesses the published checkpoint is the newest one they cosigned (the log's own until then).
    const cp = witnesses?.latest() ?? (await log.checkpoint());
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' }, body: cp.note };
  });

  async function tileReply(path: string, p: ReturnType<typeof parseTilePath>): Promise<Reply> {
    const partial = p.width < 256;
    const bytes = p.kind === 'entries' ? await log.entryBundle(p.index, partial ? p.width : undefined) : await log.tile(p.level, p.index, partial ? p.width : undefined);
    if (!bytes) throw new HttpError(404, `${path} is beyond the current tree`);
    return { status: 200, headers: partial ? PARTIAL_TILE_HEADERS : FULL_TILE_HEADERS, body: bytes };
  }
  router.add('GET', '/api/v2/tile/...', /^\/api\/v2\/(?<path>tile\/.+)$/, async (ctx) => {
    let p;
    try {
      p = parseTilePath(ctx.params.path!);
    } catch (e) {
      if (e instanceof SignetError) throw new HttpError(404, e.message);
      throw e;
    }
    return tileReply(ctx.params.path!, p);
  });
  // The same route for canonical targets (what every tile client sends), before the general router: a
  // tile read costs less than the URL parsing and route matching it would otherwise pay. Targets that do
  // not parse go the general way, which answers them as before.
  router.addFast('/api/v2/tile/...', '/api/v2/tile/', (rest) => {
    const path = `tile/${rest}`;
    let p;
    try {
      p = parseTilePath(path);
    } catch {
      return undefined;
    }
    return tileReply(path, p);
  });

  if (log.metrics().tileCache) {
    const cache = (): TileCacheMetrics => log.metrics().tileCache!;
    opts.metrics?.addGauge({ name: 'signet_log_tile_cache_tiles', help: 'Checked full tiles held in memory (serve --tile-cache).', type: 'gauge', value: () => cache().tiles });
    opts.metrics?.addGauge({ name: 'signet_log_tile_cache_capacity_tiles', help: 'Checked full tiles the cache holds at most (8 KiB each).', type: 'gauge', value: () => cache().capacity });
    opts.metrics?.addGauge({ name: 'signet_log_tile_cache_hits_total', help: 'Full tile reads answered from memory.', type: 'counter', value: () => cache().hits });
    opts.metrics?.addGauge({ name: 'signet_log_tile_cache_misses_total', help: 'Full tile reads that went to the file.', type: 'counter', value: () => cache().misses });
  }
  if (log.metrics().sharedWrites) {
    const shared = (): SharedWriteMetrics => log.metrics().sharedWrites!;
    opts.metrics?.addGauge({ name: 'signet_log_writes_lost_total', help: 'Batch writes that found the log moved on by another server sharing it, and were integrated again.', type: 'counter', value: () => shared().lost });
    opts.metrics?.addGauge({ name: 'signet_log_writes_locked_total', help: "Batches written under the state row's lock, as they are after a write lost that race until no other server writes in between.", type: 'counter', value: () => shared().locked });
  }
  opts.metrics?.addGauge({ name: 'signet_log_size', help: 'Entries in the transparency log.', type: 'gauge', value: () => log.metrics().size });
  opts.metrics?.addGauge({ name: 'signet_log_batches_total', help: 'Group-commit batches integrated.', type: 'counter', value: () => log.metrics().batches });
  opts.metrics?.addGauge({ name: 'signet_log_appends_total', help: 'Entries appended.', type: 'counter', value: () => log.metrics().appends });
  opts.metrics?.addGauge({ name: 'signet_log_duplicates_total', help: 'Appends answered with an existing entry.', type: 'counter', value: () => log.metrics().duplicates });
  opts.metrics?.addGauge({ name: 'signet_log_last_batch_size', help: 'Entries in the last batch.', type: 'gauge', value: () => log.metrics().lastBatchSize });
}

