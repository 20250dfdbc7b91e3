/**
 * C2SP tlog-tiles: tile coordinates and paths, reading perfect-subtree hashes back out of tiles, entry
 * bundles, and a `TileAppender` that turns a stream of leaf hashes into the tiles a log must publish.
 *
 * A tile at level T holds up to 256 consecutive Merkle tree hashes at tree level 8·T; the tree levels in
 * between are recomputed by hashing inside the tile. Full tiles are immutable; the rightmost tile of each
 * level is partial (1..255 hashes) and is published under `.p/<width>`.
 */
import { SignetError } from '../errors.js';
import { MerkleFrontier } from './frontier.js';
import { HASH_SIZE, type Hash, checkHash, checkSize, nodeHash } from './hash.js';
import type { NodeId, NodeReader } from './proof.js';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
export const FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE;
/** Entry bundles prefix each entry with a big-endian uint16 length. */
export const MAX_ENTRY_SIZE = 0xffff;
const MAX_TILE_LEVEL = 63;

/** A tile (or entry bundle) at a given tree size. `width` is 1..256; 256 means a full tile. */
export interface TileId {
  level: number;
  index: number;
  width: number;
}

export type TilePath = ({ kind: 'hashes'; level: number } | { kind: 'entries' }) & { index: number; width: number };

/** `1234067` → `x001/x234/067`; `5` → `005`. */
export function formatTileIndex(n: number): string {
  checkSize(n, 'tile index');
  const pad = (v: number) => String(v).padStart(3, '0');
  let rest = Math.floor(n / 1000);
  let out = pad(n % 1000);
  while (rest > 0) {
    out = `x${pad(rest % 1000)}/${out}`;
    rest = Math.floor(rest / 1000);
  }
  return out;
}

function checkWidth(width: number): void {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new SignetError('TLOG', `tile width must be 1..${TILE_WIDTH}, got ${width}`);
  }
}

function widthSuffix(width: number): string {
  checkWidth(width);
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

/** `tile/<L>/<N>[.p/<W>]` (no leading slash; callers add their prefix). */
export function tilePath(level: number, index: number, width = TILE_WIDTH): string {
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    throw new SignetError('TLOG', `tile level must be 0..${MAX_TILE_LEVEL}, got ${level}`);
  }
  return `tile/${level}/${formatTileIndex(index)}${widthSuffix(width)}`;
}

/** `tile/entries/<N>[.p/<W>]`. */
export function entriesPath(index: number, width = TILE_WIDTH): string {
  return `tile/entries/${formatTileIndex(index)}${widthSuffix(width)}`;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Three decimal digits of `s` at `at` as a number, or -1. */
function threeDigits(s: string, at: number): number {
  const a = s.charCodeAt(at) - 48;
  const b = s.charCodeAt(at + 1) - 48;
  const c = s.charCodeAt(at + 2) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9 ? a * 100 + b * 10 + c : -1;
}

/**
 * parseTilePath's answer for a path it accepts, found in one scan of its characters (a tile read's path
 * is parsed on every request, and the split and regular expressions cost ~0.5 µs); undefined for
 * anything else, which parseTilePath then examines (and refuses) as before.
 */
function parseWellFormedTilePath(path: string): TilePath | undefined {
  if (!path.startsWith('tile/')) return undefined;
  let at = 5;
  let level = -1;
  if (path.startsWith('entries/', at)) at += 8;
  else {
    // 0..63 without a leading zero, then '/'.
    const a = path.charCodeAt(at) - 48;
    const b = path.charCodeAt(at + 1) - 48;
    if (a < 0 || a > 9) return undefined;
    if (b >= 0 && b <= 9) {
      if (a === 0 || a * 10 + b > MAX_TILE_LEVEL || path.charCodeAt(at + 2) !== 47) return undefined;
      level = a * 10 + b;
      at += 3;
    } else {
      if (b !== 47 - 48) return undefined;
      level = a;
      at += 2;
    }
  }
  // (x<ddd>/)*<ddd>, the first group not x000.
  let index = 0;
  for (let group = 0; ; group++) {
    if (path.charCodeAt(at) !== 120) break;
    const d = threeDigits(path, at + 1);
    if (d < 0 || path.charCodeAt(at + 4) !== 47 || (group === 0 && d === 0)) return undefined;
    index = index * 1000 + d;
    at += 5;
  }
  const last = threeDigits(path, at);
  if (last < 0) return undefined;
  index = index * 1000 + last;
  at += 3;
  let width = TILE_WIDTH;
  if (at !== path.length) {
    // .p/<1..255 without a leading zero>
    if (!path.startsWith('.p/', at) || path.length - at < 4 || path.length - at > 6 || path.charCodeAt(at + 3) === 48) return undefined;
    width = 0;
    for (let i = at + 3; i < path.length; i++) {
      const d = path.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return undefined;
      width = width * 10 + d;
    }
    if (width >= TILE_WIDTH) return undefined;
  }
  if (!Number.isSafeInteger(index)) return undefined;
  return level < 0 ? { kind: 'entries', index, width } : { kind: 'hashes', level, index, width };
}

/**
 * Parses a tile or entry-bundle path (without prefix or leading slash), strictly: every spelling the spec
 * forbids (leading zeros, a missing or extra `x`, width 0 or 256) is rejected, so each resource has one
 * URL. Throws SignetError('MALFORMED').
 */
export function parseTilePath(path: string): TilePath {
  const fast = parseWellFormedTilePath(path);
  if (fast) return fast;
  const bad = (why: string): never => {
    throw new SignetError('MALFORMED', `not a tile path: ${JSON.stringify(path.slice(0, 200))} (${why})`);
  };
  const parts = path.split('/');
  if (parts[0] !== 'tile' || parts.length < 3) bad('expected tile/<L>/<N> or tile/entries/<N>');
  let width = TILE_WIDTH;
  let end = parts.length;
  if (parts.length >= 4 && parts[parts.length - 2]!.endsWith('.p')) {
    const w = parts[parts.length - 1]!;
    if (!DECIMAL.test(w) || Number(w) < 1 || Number(w) >= TILE_WIDTH) bad('partial width must be 1..255');
    width = Number(w);
    parts[parts.length - 2] = parts[parts.length - 2]!.slice(0, -2);
    end = parts.length - 1;
  }
  const idx = parts.slice(2, end);
  let index = 0;
  idx.forEach((p, i) => {
    const last = i === idx.length - 1;
    const m = last ? /^[0-9]{3}$/.exec(p) : /^x([0-9]{3})$/.exec(p);
    if (!m) bad(last ? 'the last index element must be 3 digits' : 'index elements before the last must be x + 3 digits');
    index = index * 1000 + Number(last ? p : m![1]);
  });
  // `x000/005` would be a second spelling of `005`.
  if (idx.length > 1 && idx[0] === 'x000') bad('the index has a leading zero group');
  if (!Number.isSafeInteger(index)) bad('the index is too large');
  if (parts[1] === 'entries') return { kind: 'entries', index, width };
  const l = parts[1]!;
  if (!DECIMAL.test(l) || Number(l) > MAX_TILE_LEVEL) bad(`level must be 0..${MAX_TILE_LEVEL} without leading zeros`);
  return { kind: 'hashes', level: Number(l), index, width };
}

/** Number of hashes stored at tile level `level` for a tree of `size` (full tiles and the partial one). */
function hashesAtLevel(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/** Width of tile (level, index) in a tree of `size`, or 0 if that tile does not exist yet. */
export function tileWidth(level: number, index: number, size: number): number {
  const count = hashesAtLevel(level, size);
  const full = Math.floor(count / TILE_WIDTH);
  if (index < full) return TILE_WIDTH;
  if (index === full) return count % TILE_WIDTH;
  return 0;
}

/** The partial tiles a tree of `size` publishes, level 0 first (C2SP: `floor(s / 256^l) mod 256` hashes). */
export function partialTiles(size: number): TileId[] {
  checkSize(size, 'tree size');
  const out: TileId[] = [];
  for (let level = 0; hashesAtLevel(level, size) > 0; level++) {
    const count = hashesAtLevel(level, size);
    if (count % TILE_WIDTH > 0) out.push({ level, index: Math.floor(count / TILE_WIDTH), width: count % TILE_WIDTH });
  }
  return out;
}

/** Where the perfect subtree (level, index) lives: tile level/index, and the hashes [start, start+count) in it. */
export function tileForNode(level: number, index: number): { level: number; index: number; start: number; count: number } {
  checkSize(level, 'node level');
  checkSize(index, 'node index');
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const count = 2 ** (level - tileLevel * TILE_HEIGHT);
  const first = index * count; // index of the first tile-level hash under this node
  return { level: tileLevel, index: Math.floor(first / TILE_WIDTH), start: first % TILE_WIDTH, count };
}

/** The tiles (with their width at `size`) holding `nodes`, deduplicated. */
export function tilesForNodes(nodes: readonly NodeId[], size: number): TileId[] {
  const seen = new Map<string, TileId>();
  for (const n of nodes) {
    const t = tileForNode(n.level, n.index);
    const width = tileWidth(t.level, t.index, size);
    if (width < t.start + t.count) {
      throw new SignetError('TLOG', `node ${n.level}/${n.index} is not a complete subtree of a tree of size ${size}`);
    }
    const key = `${t.level}/${t.index}`;
    if (!seen.has(key)) seen.set(key, { level: t.level, index: t.index, width });
  }
  return [...seen.values()];
}

/** Validates tile bytes: a whole number of hashes, 1..256 of them, and the expected width if given. */
export function checkTile(data: Uint8Array, width?: number): number {
  const n = data.length / HASH_SIZE;
  if (!Number.isInteger(n) || n < 1 || n > TILE_WIDTH) {
    throw new SignetError('MALFORMED', `a tile must hold 1..${TILE_WIDTH} hashes of ${HASH_SIZE} bytes, got ${data.length} bytes`);
  }
  if (width !== undefined && n !== width) {
    throw new SignetError('MALFORMED', `expected a tile of ${width} hashes, got ${n}`);
  }
  return n;
}

/** The tile's hashes as views into `data` (no copies). */
export function tileHashes(data: Uint8Array): Hash[] {
  const n = checkTile(data);
  const out: Hash[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  return out;
}

/** Concatenates 1..256 hashes into tile bytes. */
export function buildTile(hashes: readonly Hash[]): Uint8Array {
  if (hashes.length < 1 || hashes.length > TILE_WIDTH) {
    throw new SignetError('TLOG', `a tile holds 1..${TILE_WIDTH} hashes, got ${hashes.length}`);
  }
  const out = Buffer.allocUnsafe(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => {
    checkHash(h, `tile hash ${i}`);
    out.set(h, i * HASH_SIZE);
  });
  return out;
}

/** MTH of the perfect run of `count` (a power of two) hashes at [start, start+count) inside tile bytes. */
export function hashInTile(data: Uint8Array, start: number, count: number): Hash {
  const n = checkTile(data);
  if (start + count > n) {
    throw new SignetError('MALFORMED', `tile of ${n} hashes does not contain hashes ${start}..${start + count - 1}`);
  }
  const at = (i: number) => data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  if (count === 1) return Buffer.from(at(start));
  // Stack-based pairing: pairs of equal-height subtrees merge as soon as both exist.
  const stack: Hash[] = [];
  const heights: number[] = [];
  for (let i = start; i < start + count; i++) {
    let h: Hash = at(i);
    let height = 0;
    while (heights.length > 0 && heights[heights.length - 1] === height) {
      h = nodeHash(stack.pop()!, h);
      heights.pop();
      height++;
    }
    stack.push(h);
    heights.push(height);
  }
  return stack[0]!;
}

/**
 * Every perfect subtree hash inside one tile, computed once (255 hashes for a full tile). Proofs read up to
 * eight nodes per tile at different heights; without this each read re-hashes up to 128 tile hashes, which
 * made a proof over a million-entry log cost about a millisecond. Keeps a reference to the tile bytes.
 */
export class ExpandedTile {
  readonly width: number;
  /** levels[k] holds floor(width / 2^k) hashes, contiguous. levels[0] is the tile itself. */
  readonly #levels: Uint8Array[];

  /**
   * `interior`, when given, is levels 1, 2, … already computed over `data` and concatenated (a faster
   * hasher's output, e.g. the server's native addon); its length is checked, its hashes trusted.
   */
  constructor(data: Uint8Array, interior?: Uint8Array) {
    this.width = checkTile(data);
    const levels: Uint8Array[] = [data];
    let prev = data;
    let at = 0;
    for (let n = Math.floor(this.width / 2); n >= 1; n = Math.floor(n / 2)) {
      let cur: Uint8Array;
      if (interior) {
        cur = interior.subarray(at, at + n * HASH_SIZE);
        at += n * HASH_SIZE;
      } else {
        cur = new Uint8Array(n * HASH_SIZE);
        for (let i = 0; i < n; i++) {
          const l = prev.subarray(2 * i * HASH_SIZE, (2 * i + 1) * HASH_SIZE);
          const r = prev.subarray((2 * i + 1) * HASH_SIZE, (2 * i + 2) * HASH_SIZE);
          cur.set(nodeHash(l, r), i * HASH_SIZE);
        }
      }
      levels.push(cur);
      prev = cur;
    }
    if (interior && at !== interior.length) {
      throw new SignetError('INTERNAL', `interior levels of a ${this.width}-hash tile are ${at} bytes, not ${interior.length}`);
    }
    this.#levels = levels;
  }

  /** The hash of the perfect run of `count` (a power of two) hashes starting at `start` (a multiple of count). */
  node(start: number, count: number): Hash {
    let k = 0;
    while (2 ** k < count) k++;
    if (2 ** k !== count || start % count !== 0 || start + count > this.width) {
      throw new SignetError('MALFORMED', `tile of ${this.width} hashes does not contain a subtree of ${count} at ${start}`);
    }
    const i = start / count;
    return this.#levels[k]!.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }
}

/** A cache of expanded tiles keyed by tile path (a Map, or an LRU with the same two methods). */
export interface TileCache {
  get(path: string): ExpandedTile | undefined;
  set(path: string, tile: ExpandedTile): unknown;
}

/**
 * A NodeReader over tiles of a tree of `size`. `getTile` returns the bytes of tile (level, index) at the
 * given width (full tiles for width 256), or undefined if it is not available. Expanded tiles go into
 * `cache` (default: a Map private to this reader, so one proof expands each tile once).
 */
export function tileNodeReader(size: number, getTile: (tile: TileId) => Uint8Array | undefined, options: { cache?: TileCache } = {}): NodeReader {
  checkSize(size, 'tree size');
  const cache = options.cache ?? new Map<string, ExpandedTile>();
  return (level, index) => {
    const t = tileForNode(level, index);
    const width = tileWidth(t.level, t.index, size);
    if (width < t.start + t.count) {
      throw new SignetError('TLOG', `node ${level}/${index} is not a complete subtree of a tree of size ${size}`);
    }
    const path = tilePath(t.level, t.index, width);
    let tile = cache.get(path);
    if (!tile) {
      const data = getTile({ level: t.level, index: t.index, width });
      if (!data) throw new SignetError('TLOG', `tile ${path} is not available`);
      checkTile(data, width);
      tile = new ExpandedTile(data);
      cache.set(path, tile);
    }
    return tile.node(t.start, t.count);
  };
}

/** One resource to publish: tile or entry-bundle coordinates and its bytes. */
export interface TileWrite extends TileId {
  data: Uint8Array;
}

/**
 * Integrates leaf hashes and yields the tiles to write. Holds the compact range of the tree plus the
 * hashes of each level's current (partial) tile — nothing else — so memory is O(256·levels). Every node
 * is hashed exactly once: the frontier's completed nodes at levels 0, 8, 16, … are the tile contents.
 */
export class TileAppender {
  readonly #frontier: MerkleFrontier;
  readonly #edge: Hash[][];
  readonly #dirty = new Set<number>();
  #full: TileWrite[] = [];

  private constructor(frontier: MerkleFrontier, edge: Hash[][]) {
    this.#frontier = frontier;
    this.#edge = edge;
  }

  static empty(): TileAppender {
    return new TileAppender(MerkleFrontier.empty(), []);
  }

  /**
   * Resumes at `size` from the tree's partial tiles (`partialTiles(size)`); `getPartial` must return
   * exactly those tiles' bytes. The frontier is recomputed from them, so no other state is needed.
   * `expand`, when given, expands a tile with a faster hasher (the server's native addon): a server that
   * shares its log with another restores at nearly every batch, where hashing ~250 nodes per level one
   * call at a time cost ~1 ms.
   */
  static restore(size: number, getPartial: (tile: TileId) => Uint8Array | undefined, expand?: (data: Uint8Array) => ExpandedTile): TileAppender {
    checkSize(size, 'tree size');
    const edge: Hash[][] = [];
    const frontierNodes: Hash[] = [];
    const partials = partialTiles(size);
    // Frontier nodes are ordered leftmost first, i.e. from the highest tile level down.
    for (let k = partials.length - 1; k >= 0; k--) {
      const t = partials[k]!;
      const data = getPartial(t);
      if (!data) throw new SignetError('TLOG', `cannot resume the log: tile ${tilePath(t.level, t.index, t.width)} is missing`);
      checkTile(data, t.width);
      edge[t.level] = tileHashes(Buffer.from(data));
      const expanded = expand?.(data);
      let start = 0;
      for (let bit = TILE_HEIGHT - 1; bit >= 0; bit--) {
        const count = 2 ** bit;
        if (t.width & count) {
          frontierNodes.push(expanded ? Buffer.from(expanded.node(start, count)) : hashInTile(data, start, count));
          start += count;
        }
      }
    }
    for (let level = 0; level < edge.length; level++) edge[level] ??= [];
    return new TileAppender(MerkleFrontier.fromNodes(size, frontierNodes), edge);
  }

  get size(): number {
    return this.#frontier.size;
  }

  root(): Hash {
    return this.#frontier.root();
  }

  /** A copy of the compact range, e.g. to answer root queries while appending continues. */
  frontier(): MerkleFrontier {
    return this.#frontier.clone();
  }

  readonly #onNode = (level: number, index: number, hash: Hash): void => {
    if (level % TILE_HEIGHT !== 0) return;
    const tileLevel = level / TILE_HEIGHT;
    const edge = (this.#edge[tileLevel] ??= []);
    edge.push(hash);
    if (edge.length === TILE_WIDTH) {
      this.#full.push({ level: tileLevel, index: Math.floor(index / TILE_WIDTH), width: TILE_WIDTH, data: Buffer.concat(edge, FULL_TILE_BYTES) });
      edge.length = 0;
      this.#dirty.delete(tileLevel);
    } else {
      this.#dirty.add(tileLevel);
    }
  };

  append(leaf: Hash): void {
    this.#frontier.append(leaf, this.#onNode);
  }

  /** Tiles completed since the last flush, then the current partial tile of every level that changed. */
  flush(): TileWrite[] {
    const out = this.#full;
    this.#full = [];
    const size = this.#frontier.size;
    for (const level of [...this.#dirty].sort((a, b) => a - b)) {
      const edge = this.#edge[level]!;
      if (edge.length === 0) continue;
      const index = Math.floor(hashesAtLevel(level, size) / TILE_WIDTH);
      out.push({ level, index, width: edge.length, data: Buffer.concat(edge) });
    }
    this.#dirty.clear();
    return out;
  }
}

/** Entry bundle bytes: each entry as uint16 BE length || bytes. Entries must be 1..65535 bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length < 1 || entries.length > TILE_WIDTH) {
    throw new SignetError('TLOG', `an entry bundle holds 1..${TILE_WIDTH} entries, got ${entries.length}`);
  }
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_SIZE) {
      throw new SignetError('TOO_LARGE', `log entry of ${e.length} bytes exceeds the ${MAX_ENTRY_SIZE}-byte limit of tile entry bundles`);
    }
    total += 2 + e.length;
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const e of entries) {
    out.writeUInt16BE(e.length, pos);
    out.set(e, pos + 2);
    pos += 2 + e.length;
  }
  return out;
}

/** Splits an entry bundle into entries (views into `data`), checking the count if `width` is given. */
export function decodeEntryBundle(data: Uint8Array, width?: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (pos + 2 > data.length) throw new SignetError('MALFORMED', `entry bundle is truncated at byte ${pos}`);
    const len = (data[pos]! << 8) | data[pos + 1]!;
    if (pos + 2 + len > data.length) throw new SignetError('MALFORMED', `entry bundle is truncated: entry ${out.length} needs ${len} bytes`);
    out.push(data.subarray(pos + 2, pos + 2 + len));
    pos += 2 + len;
    if (out.length > TILE_WIDTH) throw new SignetError('MALFORMED', `entry bundle holds more than ${TILE_WIDTH} entries`);
  }
  if (out.length === 0) throw new SignetError('MALFORMED', 'entry bundle is empty');
  if (width !== undefined && out.length !== width) {
    throw new SignetError('MALFORMED', `expected an entry bundle of ${width} entries, got ${out.length}`);
  }
  return out;
}
