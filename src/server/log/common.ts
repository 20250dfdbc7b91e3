/**
 * Pieces both storage drivers share: the checkpoint signer, the storage-driver contract the sequencer
 * drives, a bounded cache of expanded tiles, and proof generation over tiles loaded asynchronously.
 */
import { type KeyObject, createHash, createPublicKey } from 'node:crypto';
import { SignetError } from '../../errors.js';
import {
  ExpandedTile,
  type ProofElement,
  type TileCache,
  type TileId,
  checkTile,
  consistencyProofNodes,
  inclusionProofNodes,
  nodeHash,
  proofNodeSet,
  signCheckpoint,
  noteKeyId,
  tileNodeReader,
  tilePath,
  tilesForNodes,
} from '../../tlog/index.js';
import { signBytes } from '../../tlog/sig.js';
import { nativeCrypto } from '../../native.js';
import { takeLevelsComputedFor } from './integrity.js';
import { Lru } from './lru.js';
import type { SharedWriteMetrics, SignedCheckpoint, StoredEntry, TileCacheMetrics } from './types.js';

export interface BatchItem {
  leafHash: Buffer;
  body: Buffer;
  indexKeys: string[];
}

export interface BatchOutcome {
  /**
   * One per item, same order: the entry now stored under that leaf hash, and whether it existed before;
   * or, for an item already in the log whose stored copy cannot be read (a corrupt file), why: that
   * submission fails alone, and the rest of the batch is committed.
   */
  results: ({ entry: StoredEntry; duplicate: boolean } | { failed: Error })[];
  checkpoint: SignedCheckpoint;
}

/**
 * What a storage driver provides. `commitBatch` must be all-or-nothing: on rejection nothing of the batch
 * is visible, and the next call starts again from the last committed state.
 */
export interface LogStorage {
  readonly treeId: bigint;
  readonly origin: string;
  commitBatch(items: BatchItem[]): Promise<BatchOutcome>;
  checkpoint(): Promise<SignedCheckpoint>;
  entryByIndex(index: number): Promise<StoredEntry | null>;
  entryByLeafHash(leafHash: Buffer): Promise<StoredEntry | null>;
  search(key: string): Promise<number[]>;
  /** Bytes of the given tiles at the given widths; every tile must be within the committed tree. */
  readTiles(tiles: TileId[]): Promise<Map<string, Uint8Array>>;
  tile(level: number, index: number, width?: number): Promise<Buffer | null>;
  entryBundle(index: number, width?: number): Promise<Buffer | null>;
  /** Keeps the v1 SET signature of committed entry `e` where the driver can (set-store.ts). */
  keepSet?(e: StoredEntry, sig: Uint8Array): void;
  /** The SET signature kept for entry `e`, checked against its seal; undefined where none (or the driver keeps none). */
  storedSet?(e: StoredEntry): Uint8Array | undefined;
  /** Its cache of full tiles, where it has one. */
  tileCache?(): TileCacheMetrics;
  /** How its batch writes fared against other servers sharing the log, where several can. */
  sharedWrites?(): SharedWriteMetrics;
  close(): Promise<void>;
}

/** Signs checkpoints for one origin. The note key name is the origin up to " - " (as Rekor v1 does). */
export class CheckpointSigner {
  readonly origin: string;
  readonly name: string;
  readonly key: KeyObject;
  readonly publicKey: KeyObject;
  readonly logId: Buffer;
  /** The note key ID, computed once: deriving it hashes the key's exported SPKI, for every batch. */
  readonly #keyId: Uint8Array;

  constructor(origin: string, key: KeyObject) {
    if (origin.length === 0 || /[\x00-\x1f]/.test(origin)) {
      throw new SignetError('USAGE', `log origin ${JSON.stringify(origin)} must be one non-empty line`);
    }
    this.origin = origin;
    this.name = origin.split(' - ')[0]!.trim();
    if (this.name.length === 0 || /[\s+]/.test(this.name)) {
      throw new SignetError('USAGE', `log origin ${JSON.stringify(origin)}: the part before " - " must be a name without spaces or '+'`);
    }
    this.key = key;
    this.publicKey = createPublicKey(key);
    this.logId = createHash('sha256').update(this.publicKey.export({ format: 'der', type: 'spki' })).digest();
    this.#keyId = noteKeyId(this.name, key);
  }

  sign(size: number, rootHash: Uint8Array): SignedCheckpoint {
    const root = Buffer.from(rootHash);
    return { origin: this.origin, size, rootHash: root, note: signCheckpoint({ origin: this.origin, size, rootHash: root }, this.name, this.key, { keyId: this.#keyId }) };
  }

  signBytes(data: Buffer): Buffer {
    return Buffer.from(signBytes(data, this.key));
  }
}

/**
 * A tile with its interior hashes, by the native addon where built: expanding a tile is 255 SHA-256s,
 * most of the CPU of a proof read at a million entries, ~10x cheaper there than one crypto.hash each.
 */
export function expandTile(data: Uint8Array): ExpandedTile {
  const addon = nativeCrypto.addon;
  return new ExpandedTile(data, addon ? (takeLevelsComputedFor(data) ?? addon.merkleLevels(data)) : undefined);
}

/** Least-recently-used map of expanded tiles, bounded by count (a full expanded tile is ~16 KiB). */
export class TileLru extends Lru<ExpandedTile> implements TileCache {
  constructor(max = 2048) {
    super(max);
  }
}

function checkIndexArg(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new SignetError('USAGE', `${what} must be a non-negative integer, got ${String(n)}`);
}

/** Tile loads in progress per cache, so concurrent proofs share one read + expansion of a tile. */
const inflight = new WeakMap<TileCache, Map<string, Promise<ExpandedTile | undefined>>>();

/**
 * Computes the hashes of several proofs over one tree of `size` at once. The tiles of all of them are
 * found once: those missing from `cache` are loaded in one call, those found in it are pinned for the
 * duration so that a concurrent eviction cannot lose them. A right-border hash that several proofs share
 * is folded once. The answers to one write batch all ask for proofs against the same new checkpoint,
 * mostly from the same few tiles.
 */
async function proofsFromTiles(
  proofs: ProofElement[][],
  size: number,
  cache: TileCache,
  load: (tiles: TileId[]) => Promise<Map<string, Uint8Array>>,
): Promise<Buffer[][]> {
  const all = proofs.flat();
  if (all.length === 0) return proofs.map(() => []);
  const tiles = tilesForNodes(proofNodeSet(all), size);
  const pinned = new Map<string, ExpandedTile>();
  const missing: TileId[] = [];
  const waits: Promise<void>[] = [];
  let pending = inflight.get(cache);
  if (!pending) inflight.set(cache, (pending = new Map()));
  for (const t of tiles) {
    const p = tilePath(t.level, t.index, t.width);
    const hit = cache.get(p);
    if (hit) {
      pinned.set(p, hit);
      continue;
    }
    // The waiters of one batch all ask for the same new right-edge tiles at once: one read and one
    // expansion serve them all, instead of each re-hashing the partial tiles (~12% of a write's CPU).
    const shared = pending.get(p);
    if (shared) waits.push(shared.then((tile) => void (tile && pinned.set(p, tile))));
    else missing.push(t);
  }
  if (missing.length > 0) {
    const loading = load(missing);
    for (const t of missing) {
      const p = tilePath(t.level, t.index, t.width);
      const one = loading.then((m) => {
        const data = m.get(p);
        if (!data) return undefined;
        checkTile(data, t.width);
        const tile = expandTile(data);
        cache.set(p, tile);
        return tile;
      });
      pending.set(p, one);
      const clear = (): void => {
        if (pending.get(p) === one) pending.delete(p);
      };
      one.then(clear, clear);
      waits.push(one.then((tile) => void (tile && pinned.set(p, tile))));
    }
  }
  await Promise.all(waits);
  const local: TileCache = {
    get: (p) => pinned.get(p),
    set: (p, t) => {
      pinned.set(p, t);
      cache.set(p, t);
    },
  };
  // Every tile was pinned above; a tile the storage lacked is reported by the reader.
  const read = tileNodeReader(size, () => undefined, { cache: local });
  // In one tree, a right-border element is fixed by its first (leftmost) node. Single nodes are shared
  // too: the proofs of one write batch have most of their upper levels in common, and one Buffer per
  // node lets the answers encode it once (responses.ts keeps the text of the Buffers it has encoded).
  const folded = new Map<string, Buffer>();
  const single = new Map<string, Buffer>();
  const element = (el: ProofElement): Buffer => {
    if (el.length === 1) {
      const key = `${el[0]!.level}/${el[0]!.index}`;
      let b = single.get(key);
      if (!b) single.set(key, (b = Buffer.from(read(el[0]!.level, el[0]!.index))));
      return b;
    }
    const key = `${el[0]!.level}/${el[0]!.index}`;
    const hit = folded.get(key);
    if (hit) return hit;
    // A proof element is a single perfect node except on the tree's right border, where it folds right to left.
    let r = read(el[el.length - 1]!.level, el[el.length - 1]!.index);
    for (let i = el.length - 2; i >= 0; i--) r = nodeHash(read(el[i]!.level, el[i]!.index), r);
    const out = Buffer.from(r);
    folded.set(key, out);
    return out;
  };
  return proofs.map((elements) => elements.map(element));
}

/** Inclusion proofs of several entries in one tree of `treeSize` (see proofsFromTiles); `currentSize` is the log's. */
export async function inclusionProofsFromTiles(
  indexes: number[],
  treeSize: number,
  currentSize: number,
  cache: TileCache,
  load: (tiles: TileId[]) => Promise<Map<string, Uint8Array>>,
): Promise<Buffer[][]> {
  for (const index of indexes) checkInclusionArgs(index, treeSize, currentSize);
  return proofsFromTiles(
    indexes.map((i) => inclusionProofNodes(i, treeSize)),
    treeSize,
    cache,
    load,
  );
}

/** Throws the USAGE error an inclusion proof for these arguments would fail with. */
export function checkInclusionArgs(index: number, treeSize: number, currentSize: number): void {
  checkIndexArg(index, 'log index');
  checkIndexArg(treeSize, 'tree size');
  checkWithinLog(treeSize, currentSize);
  if (index >= treeSize) throw new SignetError('USAGE', `log index ${index} is outside a tree of size ${treeSize}`);
}

function checkWithinLog(treeSize: number, currentSize: number): void {
  if (treeSize > currentSize) {
    throw new SignetError('USAGE', `tree size ${treeSize} is greater than the current size of the log (${currentSize})`);
  }
}

export async function consistencyProofFromTiles(
  size1: number,
  size2: number,
  currentSize: number,
  cache: TileCache,
  load: (tiles: TileId[]) => Promise<Map<string, Uint8Array>>,
): Promise<Buffer[]> {
  checkIndexArg(size1, 'first tree size');
  checkIndexArg(size2, 'last tree size');
  checkWithinLog(size2, currentSize);
  if (size1 > size2) throw new SignetError('USAGE', `first tree size ${size1} is greater than last tree size ${size2}`);
  return (await proofsFromTiles([consistencyProofNodes(size1, size2)], size2, cache, load))[0]!;
}

/** Validates (level, index, width) of a tile request; returns the width asked for (256 = full). */
export function checkTileArgs(level: number, index: number, width: number | undefined, maxLevel = 63): number {
  if (!Number.isInteger(level) || level < 0 || level > maxLevel) throw new SignetError('USAGE', `tile level must be 0..${maxLevel}, got ${String(level)}`);
  checkIndexArg(index, 'tile index');
  const w = width ?? 256;
  if (!Number.isInteger(w) || w < 1 || w > 256) throw new SignetError('USAGE', `tile width must be 1..256, got ${String(width)}`);
  return w;
}

/** Random positive int63 tree ID, as Trillian assigns them. */
export function newTreeId(rand: Buffer): bigint {
  const v = rand.readBigUInt64BE(0) & ((1n << 63n) - 1n);
  return v === 0n ? 1n : v;
}

/** How a new log names itself: a fixed origin string, or one built from the tree ID chosen at creation. */
export type OriginDefault = string | ((treeId: bigint) => string);

export function defaultOrigin(treeId: bigint, fallback?: OriginDefault): string {
  if (typeof fallback === 'function') return fallback(treeId);
  if (typeof fallback === 'string') return fallback;
  return `signet-log - ${treeId}`;
}
