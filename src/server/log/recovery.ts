/**
 * Start-up of the embedded log's tiles, and their rebuild after a failed batch: the committed state is
 * what log.sqlite holds. Files of committed batches that may not have reached the disk are written out
 * from their rows, the integration state (the tree's right edge) is rebuilt from the partial tiles and
 * checked against the committed root, and the partial bundle's entries against the partial level-0 tile.
 * On start, files a crashed batch left beyond the committed tree are removed, partial versions that a
 * log of the older layout keeps as files are moved into rows, and the files are checked (tile-store.ts).
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { SignetError } from '../../errors.js';
import { TILE_WIDTH, TileAppender, hashEquals } from '../../tlog/index.js';
import { type Kind, corrupt, entryLeafHash, hashAt } from './integrity.js';
import { ioFail, isEnoent, transaction } from './io.js';
import type { LegacyPartial, TileStore } from './tile-store.js';

export interface RestoredTree {
  appender: TileAppender;
  /** Bodies of the partial bundle. */
  tail: Buffer[];
  /** What was read from files of the older layout, to be stored as rows. */
  legacy: { partials: LegacyPartial[]; tail: Buffer[] | null };
}

/**
 * Rebuilds the integration state of a tree of `size` from the committed tiles, and checks it against
 * `rootHash`. `dbFile` names log.sqlite in errors.
 */
export async function restoreTree(tiles: TileStore, size: number, rootHash: Uint8Array, dbFile: string): Promise<RestoredTree> {
  await tiles.materializeUnsynced();
  const legacyPartials = tiles.loadPartials(size);
  let appender: TileAppender;
  try {
    appender = TileAppender.restore(size, (t) => tiles.version(t.level, t.index, t.width));
  } catch (e) {
    if (e instanceof SignetError && e.code === 'IO') throw e;
    throw new SignetError('TLOG', `the log's tiles in ${tiles.root} do not match its committed state: ${(e as Error).message}`, { cause: e });
  }
  if (!hashEquals(appender.root(), rootHash)) {
    throw new SignetError('TLOG', `the log's tiles in ${tiles.root} do not reproduce the committed root hash at size ${size}`);
  }
  const { tail, legacy } = tiles.loadTail(size);
  // The partial bundle's entries against their leaf hashes in the partial level-0 tile (which the
  // root vouches for, above).
  if (tail.length > 0) {
    const level0 = tiles.partial(0, Math.floor(size / TILE_WIDTH))!;
    const first = size - tail.length;
    tail.forEach((b, i) => {
      if (!hashEquals(entryLeafHash(b), hashAt(level0, i))) {
        const where = legacy ? tiles.file('entries', Math.floor(size / TILE_WIDTH), tail.length) : `${dbFile} (table partial_entries)`;
        throw corrupt(where, `holds an entry ${first + i} that does not match its leaf hash in the partial level-0 tile`);
      }
    });
  }
  return { appender, tail, legacy: { partials: legacyPartials, tail: legacy ? tail : null } };
}

/** Removes what a crashed process left in the temp directory. */
export async function cleanTmp(tmp: string): Promise<void> {
  try {
    for (const f of await fs.readdir(tmp)) await fs.rm(join(tmp, f), { force: true });
  } catch (e) {
    throw ioFail(`cannot clean up ${tmp}`, e);
  }
}

/**
 * Stores the partial versions read from files of the older layout as rows, durably (`wal`: flushes
 * log.sqlite's WAL) before `removeBeyond` deletes the files.
 */
export async function migrateLegacy(tiles: TileStore, db: DatabaseSync, legacy: RestoredTree['legacy'], size: number, wal: () => Promise<void>): Promise<void> {
  if (legacy.partials.length === 0 && !legacy.tail) return;
  const first = Math.floor(size / TILE_WIDTH) * TILE_WIDTH;
  transaction(db, () => tiles.storeLegacy(legacy.partials, legacy.tail, first));
  await wal();
}

/**
 * Removes the files beyond the committed tree of `size`: those of a batch that never committed (later
 * tiles), and partial versions kept as files (older layout, stored as rows first).
 */
export async function removeBeyond(tiles: TileStore, size: number): Promise<void> {
  const kinds: Kind[] = ['entries'];
  for (let level = 0; ; level++) {
    try {
      await fs.access(join(tiles.root, 'tile', String(level)));
    } catch {
      break;
    }
    kinds.push(level);
  }
  for (const kind of kinds) {
    const count = kind === 'entries' ? size : Math.floor(size / TILE_WIDTH ** kind);
    const current = Math.floor(count / TILE_WIDTH);
    for (let n = current; ; n++) {
      const full = tiles.file(kind, n, TILE_WIDTH);
      const pdir = `${full}.p`;
      let found = false;
      try {
        const widths = await fs.readdir(pdir);
        found = widths.length > 0;
        for (const w of widths) await fs.rm(join(pdir, w), { force: true });
      } catch (e) {
        if (!isEnoent(e)) throw ioFail(`cannot clean up ${pdir}`, e);
      }
      try {
        await fs.access(full);
        found = true;
        await fs.rm(full, { force: true });
      } catch {
        // absent: nothing to remove
      }
      if (!found && n > current) break;
    }
  }
}
