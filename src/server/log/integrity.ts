/**
 * Which stored hash vouches for which file of the embedded log, and the checks that compare them. The
 * chain of authority runs from the signed checkpoint down:
 *
 *   checkpoint root (log.sqlite, signed) ← the partial tiles at the right edge (log.sqlite; together they
 *   reproduce the root) ← full tile L/i (a file; its Merkle root is hash i mod 256 of tile L+1/⌊i/256⌋)
 *   ← … ← full level-0 tile k ← entry bundle k (entry j's leaf hash is hash j of level-0 tile k).
 *
 * A full tile's parent always exists (a partial one, or a full one checked the same way), and the
 * topmost tile of a tree is always partial, so every file is one comparison away from a hash that is
 * already trusted. Used by the server's read path and start-up check (embedded.ts) and by `log fsck`.
 *
 * A shortcut with the same authority: the SHA-256 of each full file (`file_digests` in log.sqlite,
 * tile-store.ts). A file's row is written in the very transaction that records the tree state the file
 * belongs to — the commit that completes the tile, from the bytes that commit's tree was computed from —
 * or, for a file of a log older than the table, by a commit after the file passed the full check above.
 * So a row exists only for a committed file, and holds what the tree vouches for: it lives where the
 * committed root and the partial tiles live, and whoever could change it could change those too. A read
 * compares the file's SHA-256 with its row (~7 µs for a tile) instead of hashing up the tree (~67 µs);
 * by SHA-256's collision resistance equal digests mean the committed bytes. Start-up checks the newest
 * files against the tree and their rows against them, and `log fsck` checks every row it finds.
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import { SignetError } from '../../errors.js';
import { FULL_TILE_BYTES, HASH_SIZE, TILE_WIDTH, decodeEntryBundle, entriesPath, hashEquals, hashInTile, tilePath } from '../../tlog/index.js';
import { nativeCrypto } from '../../native.js';
import { Lru } from './lru.js';

/** A tile level, or the entry bundles. */
export type Kind = number | 'entries';

/** The C2SP path of a tile or bundle (`tile/0/x001/234`, `tile/entries/007.p/12`). */
export function resourcePath(kind: Kind, index: number, width: number): string {
  return kind === 'entries' ? entriesPath(index, width) : tilePath(kind, index, width);
}

/**
 * The error for stored bytes that do not match the tree. `file` is for the operator (the server's log,
 * the CLI); the HTTP layer answers a bare 500 for this code and never shows the message to clients.
 */
export function corrupt(file: string, why: string): SignetError {
  return new SignetError('STORAGE_CORRUPT', `log file ${file} ${why}: the log does not serve or sign it (check the data directory with signet log fsck)`);
}

/**
 * The interior levels computed while checking a tile, by the memory that holds the tile's bytes: a proof
 * read expands the same bytes right after they are checked (common.ts expandTile), and hashing a tile
 * twice cost ~20% of a proof read's CPU at a million entries. Only a tile that fills its whole buffer
 * (what a file read returns) is remembered, so a key can never stand for other bytes. The expansion
 * takes them: left here, they would live as long as the checked tile stays cached (8 KiB more for each).
 */
const levelsByMemory = new WeakMap<ArrayBufferLike, Buffer>();

function fillsItsBuffer(data: Uint8Array): boolean {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
}

/** Interior levels that fullTileRoot computed for exactly these bytes, if it did; forgotten here once taken. */
export function takeLevelsComputedFor(data: Uint8Array): Buffer | undefined {
  if (!fillsItsBuffer(data)) return undefined;
  const levels = levelsByMemory.get(data.buffer);
  if (levels) levelsByMemory.delete(data.buffer);
  return levels;
}

/** Merkle root of a full tile (its 256 hashes hashed up 8 levels); the native addon where built. */
export function fullTileRoot(data: Uint8Array): Uint8Array {
  const addon = nativeCrypto.addon;
  if (addon) {
    const levels = addon.merkleLevels(data);
    if (fillsItsBuffer(data)) levelsByMemory.set(data.buffer, levels);
    return levels.subarray(levels.length - HASH_SIZE);
  }
  return hashInTile(data, 0, TILE_WIDTH);
}

/** The `pos`-th hash of a tile's bytes (a view). */
export function hashAt(tile: Uint8Array, pos: number): Uint8Array {
  return tile.subarray(pos * HASH_SIZE, (pos + 1) * HASH_SIZE);
}

/** RFC 6962 leaf hash of an entry body. */
export function entryLeafHash(body: Uint8Array): Buffer {
  return createHash('sha256').update(Uint8Array.of(0)).update(body).digest();
}

/** Why a full hash tile's bytes do not match `expected` (the hash its parent holds), or undefined when they do. */
export function hashTileProblem(data: Uint8Array, expected: Uint8Array): string | undefined {
  if (data.length !== FULL_TILE_BYTES) return `has ${data.length} bytes where a full tile has ${FULL_TILE_BYTES}`;
  if (!hashEquals(fullTileRoot(data), expected)) return 'does not hash to the value the tile above it holds';
  return undefined;
}

/**
 * Decodes `width` entries of a bundle and checks them against the leaf hashes of their level-0 tile
 * (checkBundleEntry for one entry). Returns the entries, or the problem.
 */
export function checkBundle(data: Uint8Array, width: number, level0: Uint8Array): { entries: Uint8Array[] } | { problem: string } {
  let entries: Uint8Array[];
  try {
    entries = decodeEntryBundle(data, width);
  } catch (e) {
    return { problem: `does not decode (${(e as Error).message})` };
  }
  for (let j = 0; j < width; j++) {
    const problem = entryLeafProblem(entries[j]!, level0, j);
    if (problem) return { problem };
  }
  return { entries };
}

/**
 * Entry `j` of a bundle of `width` entries (a view), the bundle's framing checked as decodeEntryBundle
 * does, without a view made for every entry: a read of one entry needs one.
 */
export function bundleEntryAt(data: Uint8Array, width: number, j: number): Uint8Array {
  let pos = 0;
  let found: Uint8Array | undefined;
  let n = 0;
  for (; pos < data.length; n++) {
    if (n >= width) throw new SignetError('MALFORMED', `expected an entry bundle of ${width} entries, got more`);
    if (pos + 2 > data.length) throw new SignetError('MALFORMED', `entry bundle is truncated at byte ${pos}`);
    const len = (data[pos]! << 8) | data[pos + 1]!;
    if (pos + 2 + len > data.length) throw new SignetError('MALFORMED', `entry bundle is truncated: entry ${n} needs ${len} bytes`);
    if (n === j) found = data.subarray(pos + 2, pos + 2 + len);
    pos += 2 + len;
  }
  if (n !== width || !found) throw new SignetError('MALFORMED', `expected an entry bundle of ${width} entries, got ${n}`);
  return found;
}

/** Why entry `j` of a bundle does not match its leaf hash in the level-0 tile; undefined when it does. */
export function entryLeafProblem(entry: Uint8Array, level0: Uint8Array, j: number): string | undefined {
  return hashEquals(entryLeafHash(entry), hashAt(level0, j)) ? undefined : `holds an entry ${j} that does not match its leaf hash in the level-0 tile`;
}

/** Entry `j` of a bundle, checked against its leaf hash in the level-0 tile; or the problem. */
export function checkBundleEntry(data: Uint8Array, width: number, level0: Uint8Array, j: number): { entry: Uint8Array } | { problem: string } {
  let entry: Uint8Array;
  try {
    entry = bundleEntryAt(data, width, j);
  } catch (e) {
    return { problem: `does not decode (${(e as Error).message})` };
  }
  const problem = entryLeafProblem(entry, level0, j);
  return problem ? { problem } : { entry };
}

/** Byte strings that were checked against the tree, least recently used dropped first (keys: tile-store.ts fileKey). */
export class VerifiedBytes extends Lru<Uint8Array, number> {}

/** SHA-256 of a file's bytes (one call: ~7 µs for a full tile, where its Merkle root costs ~10 times that). */
export function fileDigest(data: Uint8Array): Buffer {
  return oneShotHash('sha256', data, 'buffer') as Buffer;
}

/**
 * The SHA-256 of each full file known to hold the committed bytes — its stored row (see the header),
 * or a full check against the tree (its Merkle root, or its entries' leaf hashes) — by kind and index:
 * 32 bytes per file in one growing buffer per kind, ~1.2 MiB for the level-0 tiles of 10M entries. A
 * file read from disk is compared with this digest instead of being hashed up its Merkle tree: the
 * same bytes, by SHA-256's collision resistance, as those the tree vouches for.
 */
export class CheckedDigests {
  readonly #byKind = new Map<Kind, { digests: Buffer; known: Uint8Array }>();

  get(kind: Kind, index: number): Buffer | undefined {
    const t = this.#byKind.get(kind);
    if (!t || index >= t.known.length || t.known[index] === 0) return undefined;
    return t.digests.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }

  set(kind: Kind, index: number, digest: Uint8Array): void {
    let t = this.#byKind.get(kind);
    if (!t || index >= t.known.length) {
      const n = Math.max(1024, 2 ** Math.ceil(Math.log2(index + 1)));
      const grown = { digests: Buffer.alloc(n * HASH_SIZE), known: new Uint8Array(n) };
      if (t) {
        t.digests.copy(grown.digests);
        grown.known.set(t.known);
      }
      this.#byKind.set(kind, (t = grown));
    }
    t.digests.set(digest, index * HASH_SIZE);
    t.known[index] = 1;
  }

  clear(): void {
    this.#byKind.clear();
  }
}
