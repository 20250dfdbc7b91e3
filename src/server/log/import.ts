/**
 * Bulk import into a stopped embedded log (`signet log import`, the benchmark's prefill): entries of
 * another log, already canonical, appended in the source's order through `EmbeddedStorage.bulkAppend`
 * — no HTTP, no signature checks, one commit per chunk of CHUNK entries.
 *
 * Sources: a file of canonical bodies (one per line, base64, optionally followed by the entry's search
 * keys separated by spaces), or a Rekor-compatible log by URL: the checkpoint (`/api/v2/checkpoint`, else
 * the v1 signed tree head) checked with the source's key, entry bundles read as C2SP tiles
 * (`/api/v2/tile/entries/…`, or entry by entry through the v1 API where the source has no tiles), and
 * before each chunk is committed a consistency proof from the source (`/api/v1/log/proof`) shows that the
 * tree with that chunk is a prefix of the checkpointed one: nothing that disagrees with the source's
 * signed checkpoint is ever committed.
 *
 * Resuming: a log that already holds entries continues after them once its entries are shown to be the
 * source's first ones (a consistency proof from the checkpoint, or for a file the root of its first
 * lines recomputed). Every chunk is one crash-safe commit, so a killed import leaves a consistent log
 * and the next run resumes it.
 */
import { type KeyObject, createPublicKey } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { nativeCrypto, unpackSignatures } from '../../native.js';
import { digestFor, signBytesAsync } from '../../tlog/sig.js';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { SignetError } from '../../errors.js';
import { canonicalizeProposedEntry, type DeferredDigestCheck, MAX_ENTRY_BYTES } from '../../rekor/index.js';
import { decodeBase64Strict } from '../../sigstore/encoding.js';
import { serviceExchange } from '../../sigstore/http.js';
import { RekorV1Client } from '../../sigstore/rekor-client.js';
import { MerkleFrontier, TILE_WIDTH, decodeEntryBundle, entriesPath, hashEquals, toHex, verifyCheckpoint, verifyConsistency } from '../../tlog/index.js';
import { EmbeddedStorage } from './embedded.js';
import { loadOrCreateLogKey } from './index.js';
import { entryLeafHash } from './integrity.js';

/** Entries per commit. */
export const IMPORT_CHUNK = 16384;

export interface ImportItem {
  /** The canonical body: the leaf. */
  body: Buffer;
  /** Search keys; derived from the body when absent (Rekor v1 kinds the log accepts). */
  indexKeys?: string[];
  /** Unix seconds, where the source records it. */
  integratedTime?: number;
}

export interface ImportSource {
  /** For messages: the file or URL. */
  readonly name: string;
  /** The source's checkpoint, already verified: entries beyond its size are not read. */
  readonly checkpoint?: { size: number; rootHash: Buffer };
  /** The entries from index `from` on, in order, in chunks. */
  read(from: number): AsyncIterable<ImportItem[]>;
  /** Throws unless the tree of `size` leaves with `rootHash` is a prefix of the checkpointed tree. */
  consistency?(size: number, rootHash: Uint8Array): Promise<void>;
}

export interface ImportReport {
  dataDir: string;
  source: string;
  /** Entries the log held before (a resumed import). */
  resumedAt: number;
  imported: number;
  treeSize: number;
  rootHash: string;
  /** Entries whose search keys could not be derived from their body (found by index and leaf hash only). */
  withoutKeys: number;
  /** The source's checkpoint size, when it has one (the import then reproduced its root). */
  sourceSize?: number;
}

export interface ImportOptions {
  dataDir: string;
  source: ImportSource;
  /** Default: <dataDir>/log.key, created as `signet serve` would. */
  signingKey?: KeyObject;
  origin?: string;
  chunk?: number;
  /** Called after each commit. */
  progress?: (treeSize: number, imported: number) => void;
  /** Called once every entry is in, before the wait for the search index's merges (which can take minutes at 10M). */
  compacting?: () => void;
  /**
   * Sign each entry's Rekor v1 SET with the log key and store it with its chunk (set-store.ts), as a
   * write through the API does, so that reads serve it instead of signing one each. Costs an ECDSA
   * signature per entry (on the thread pool) and ~90 bytes of log.sqlite per entry.
   */
  sets?: boolean;
}

/** Signs SET payloads with the log key: the native addon's batches on the thread pool where built. */
function setSigner(key: KeyObject): (payloads: Buffer[]) => Promise<Uint8Array[]> {
  const addon = nativeCrypto.addon;
  if (!addon) return (payloads) => Promise.all(payloads.map((p) => signBytesAsync(p, key)));
  const nk = addon.signingKey(key.export({ format: 'der', type: 'pkcs8' }));
  const md = digestFor(key) ?? '';
  const parts = availableParallelism();
  return async (payloads) => {
    const size = Math.ceil(payloads.length / parts);
    const jobs: Promise<Buffer[]>[] = [];
    for (let i = 0; i < payloads.length; i += size) {
      const part = payloads.slice(i, i + size);
      jobs.push(addon.signMany(nk, md, part).then((blob) => unpackSignatures(blob, part.length)));
    }
    return (await Promise.all(jobs)).flat();
  };
}

/**
 * Search keys of a canonical body, without the signature checks: Rekor v1 kinds whose canonical form
 * re-canonicalizes to itself (hashedrekord, rekord, …). Undefined where they cannot be derived.
 */
export function indexKeysOfBody(body: Buffer): string[] | undefined {
  try {
    const doc = JSON.parse(body.toString('utf8')) as unknown;
    const deferred: DeferredDigestCheck[] = [];
    const e = canonicalizeProposedEntry(doc, deferred);
    return e.body.equals(body) ? e.indexKeys : undefined;
  } catch {
    return undefined;
  }
}

export async function importLog(opts: ImportOptions): Promise<ImportReport> {
  const { source } = opts;
  const chunk = opts.chunk ?? IMPORT_CHUNK;
  const key = opts.signingKey ?? (await loadOrCreateLogKey(opts.dataDir));
  const storage = await EmbeddedStorage.open(opts.dataDir, key, opts.origin);
  const signSets = opts.sets ? setSigner(key) : undefined;
  try {
    const start = await storage.checkpoint();
    const cp = source.checkpoint;
    if (cp && start.size > cp.size) {
      throw new SignetError('TLOG', `the log in ${opts.dataDir} holds ${start.size} entries, more than ${source.name} (${cp.size}): it is not a copy of that log`);
    }
    const notPrefix = (): never => {
      throw new SignetError('TLOG', `the log in ${opts.dataDir} holds ${start.size} entries that are not the first entries of ${source.name}; import into an empty data directory`);
    };
    // A resumed import: the entries already there must be the source's first ones.
    let prefix: MerkleFrontier | null = null;
    if (start.size > 0) {
      if (source.consistency) {
        await source.consistency(start.size, start.rootHash).catch((e: unknown) => {
          if (e instanceof SignetError && e.code === 'TLOG') notPrefix();
          throw e;
        });
      } else prefix = MerkleFrontier.empty();
    }
    let pos = prefix ? 0 : start.size;
    let imported = 0;
    let withoutKeys = 0;
    let pending: (ImportItem & { leafHash: Buffer; indexKeys: string[] })[] = [];
    const commit = async (): Promise<void> => {
      if (pending.length === 0) return;
      const items = pending;
      pending = [];
      await storage.bulkAppend(items, source.consistency ? (size, root) => source.consistency!(size, root) : undefined, signSets);
      imported += items.length;
      opts.progress?.(start.size + imported, imported);
    };
    for await (const part of source.read(pos)) {
      for (const it of part) {
        if (cp && pos >= cp.size) break;
        if (!Buffer.isBuffer(it.body) || it.body.length === 0 || it.body.length > MAX_ENTRY_BYTES) {
          throw new SignetError('MALFORMED', `entry ${pos} of ${source.name} is ${it.body?.length ?? 0} bytes; a log entry is 1 to ${MAX_ENTRY_BYTES} bytes`);
        }
        const leafHash = entryLeafHash(it.body);
        if (prefix && pos < start.size) {
          prefix.append(leafHash);
          pos++;
          if (pos === start.size && !hashEquals(prefix.root(), start.rootHash)) notPrefix();
          continue;
        }
        let indexKeys = it.indexKeys;
        if (!indexKeys) {
          indexKeys = indexKeysOfBody(it.body);
          if (!indexKeys) {
            withoutKeys++;
            indexKeys = [];
          }
        }
        pending.push({ ...it, leafHash, indexKeys });
        pos++;
        if (pending.length >= chunk) await commit();
      }
      if (cp && pos >= cp.size) break;
    }
    if (prefix && pos < start.size) notPrefix();
    await commit();
    opts.compacting?.();
    await storage.settleIndex();
    const end = await storage.checkpoint();
    if (cp && end.size !== cp.size) {
      throw new SignetError('TLOG', `${source.name} served ${end.size - start.size} of the ${cp.size - start.size} entries its checkpoint promises; run the import again to resume`);
    }
    if (cp && !hashEquals(end.rootHash, cp.rootHash)) {
      throw new SignetError('TLOG', `the imported log's root does not match the checkpoint of ${source.name}`);
    }
    return {
      dataDir: opts.dataDir,
      source: source.name,
      resumedAt: start.size,
      imported,
      treeSize: end.size,
      rootHash: toHex(end.rootHash),
      withoutKeys,
      ...(cp ? { sourceSize: cp.size } : {}),
    };
  } finally {
    await storage.close();
  }
}

/** A file (or `-`, stdin) of canonical bodies, base64, one per line, each optionally followed by its search keys. */
export function fileSource(path: string, chunk = IMPORT_CHUNK): ImportSource {
  const name = path === '-' ? 'standard input' : path;
  return {
    name,
    async *read(from: number) {
      const input = path === '-' ? process.stdin : createReadStream(path);
      const opened = new Promise<void>((resolve, reject) => {
        input.once('error', (e: NodeJS.ErrnoException) =>
          reject(new SignetError(e.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot read ${name}: ${e.message}`, { cause: e })),
        );
        input.once('end', resolve);
      });
      opened.catch(() => undefined);
      const lines = createInterface({ input, crlfDelay: Infinity });
      let n = 0;
      let lineNo = 0;
      let part: ImportItem[] = [];
      try {
        for await (const raw of lines) {
          lineNo++;
          const line = raw.trim();
          if (line.length === 0) continue;
          if (n++ < from) continue;
          const fields = line.split(/\s+/);
          let body: Buffer;
          try {
            body = decodeBase64Strict(fields[0]!, `line ${lineNo}`);
          } catch {
            throw new SignetError('MALFORMED', `${name} line ${lineNo}: not a base64 entry body`);
          }
          part.push(fields.length > 1 ? { body, indexKeys: fields.slice(1).map((k) => k.toLowerCase()) } : { body });
          if (part.length >= chunk) {
            yield part;
            part = [];
          }
        }
      } catch (e) {
        if (e instanceof SignetError) throw e;
        await opened;
        throw e;
      }
      await opened;
      if (part.length > 0) yield part;
    },
  };
}

/** Bundles fetched at once from a tile source. */
const BUNDLES_IN_FLIGHT = 8;

/**
 * A Rekor-compatible log by URL: its checkpoint verified with `publicKey` (default: the key the log
 * serves, trusted on first use: `onTofu` is told), entries from its C2SP entry bundles or the v1 API.
 */
export async function urlSource(baseUrl: string, opts: { publicKey?: KeyObject; onTofu?: (url: string) => void } = {}): Promise<ImportSource> {
  const c = new RekorV1Client({ baseUrl });
  const base = c.baseUrl;
  const get = async (path: string, what: string): Promise<{ status: number; body: Buffer }> => {
    const { res, body } = await serviceExchange(base + path, { method: 'GET', redirect: 'error' }, {}, 16 * 1024 * 1024, `${what} from ${base}`);
    return { status: res.status, body };
  };
  let publicKey = opts.publicKey;
  if (!publicKey) {
    opts.onTofu?.(base);
    try {
      publicKey = createPublicKey(await c.publicKey());
    } catch (e) {
      if (e instanceof SignetError) throw e;
      throw new SignetError('KEY_FORMAT', `the public key ${base} serves is not a PEM public key`);
    }
  }
  // The checkpoint: Rekor v2's, else the v1 signed tree head.
  let note: string;
  const v2 = await get('/api/v2/checkpoint', 'the checkpoint');
  if (v2.status === 200) note = v2.body.toString('utf8');
  else note = (await c.logInfo()).signedTreeHead;
  // The note's first line is the origin; its signature name is the part before " - " (Rekor v1 adds the tree ID).
  const origin = note.slice(0, Math.max(0, note.indexOf('\n')));
  const verified = verifyCheckpoint(note, { name: origin.split(' - ')[0]!.trim(), publicKey });
  const checkpoint = { size: verified.size, rootHash: Buffer.from(verified.rootHash) };

  async function bundle(k: number, width: number): Promise<Buffer[] | null> {
    const r = await get(`/api/v2/${entriesPath(k, width)}`, `entry bundle ${k}`);
    if (r.status === 404 && k === 0) return null;
    if (r.status !== 200) throw new SignetError('TLOG', `${base} did not serve entry bundle ${entriesPath(k, width)}: HTTP ${r.status}`);
    try {
      return decodeEntryBundle(r.body, width).map((b) => Buffer.from(b));
    } catch (e) {
      throw new SignetError('MALFORMED', `${base} served a malformed entry bundle ${entriesPath(k, width)}: ${(e as Error).message}`, { cause: e });
    }
  }

  return {
    name: base,
    checkpoint,
    async *read(from: number) {
      const size = checkpoint.size;
      if (from >= size) return;
      const firstK = Math.floor(from / TILE_WIDTH);
      const lastK = Math.ceil(size / TILE_WIDTH);
      const widthOf = (k: number): number => Math.min(TILE_WIDTH, size - k * TILE_WIDTH);
      // Tiles, where the source serves them (probed with the first bundle the import needs).
      const probe = (await get(`/api/v2/${entriesPath(firstK, widthOf(firstK))}`, 'an entry bundle')).status;
      if (probe === 200) {
        const inflight: Promise<Buffer[] | null>[] = [];
        let next = firstK;
        const fill = (): void => {
          while (inflight.length < BUNDLES_IN_FLIGHT && next < lastK) {
            const p = bundle(next, widthOf(next));
            p.catch(() => undefined);
            inflight.push(p);
            next++;
          }
        };
        fill();
        for (let k = firstK; k < lastK; k++) {
          const entries = (await inflight.shift()!)!;
          fill();
          const skip = k === firstK ? from - k * TILE_WIDTH : 0;
          yield entries.slice(skip).map((body) => ({ body }));
        }
        return;
      }
      // The v1 API, one entry at a time (Rekor v1 has no tiles).
      let part: ImportItem[] = [];
      for (let i = from; i < size; i++) {
        const e = await c.getByIndex(i);
        part.push({ body: decodeBase64Strict(e.body, `entry ${i}`), integratedTime: e.integratedTime });
        if (part.length >= 256) {
          yield part;
          part = [];
        }
      }
      if (part.length > 0) yield part;
    },
    async consistency(size: number, rootHash: Uint8Array) {
      if (size === 0) return;
      if (size === checkpoint.size) {
        if (!hashEquals(rootHash, checkpoint.rootHash)) throw new SignetError('TLOG', `the entries of ${base} do not reproduce its checkpoint's root hash`);
        return;
      }
      const p = await c.consistencyProof(size, checkpoint.size);
      try {
        verifyConsistency(
          size,
          checkpoint.size,
          p.hashes.map((h) => Buffer.from(h, 'hex')),
          rootHash,
          checkpoint.rootHash,
        );
      } catch (e) {
        throw new SignetError('TLOG', `the first ${size} entries ${base} served are not those of its checkpoint (tree size ${checkpoint.size}): ${(e as Error).message}`, { cause: e });
      }
    },
  };
}
