/**
 * `signet log fsck`: checks every file of an embedded log (see embedded.ts) against the tree and its
 * signed checkpoint, following the chain of integrity.ts from the top: checkpoint → partial tiles (in
 * log.sqlite) → full tiles, level by level downwards → entry bundles. Read-only: log.sqlite is opened
 * read-only for one short read transaction (a running server holds it locked, and is then left alone
 * with a clear error), after which only tile files are read. Files whose bytes still sit in the
 * `unsynced` table (written without a flush before a crash; the server rewrites them on start) are
 * checked as those bytes. Each file the tree vouches for is also compared with its `file_digests` row,
 * which the server trusts in place of the tree on reads.
 */
import { type KeyObject, createPrivateKey, createPublicKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { SignetError } from '../../errors.js';
import {
  FULL_TILE_BYTES,
  TILE_WIDTH,
  TileAppender,
  decodeEntryBundle,
  hashEquals,
  parseCheckpoint,
  parseNote,
  partialTiles,
  tileWidth,
  toHex,
  verifyCheckpoint,
} from '../../tlog/index.js';
import { type Kind, checkBundle, entryLeafHash, fileDigest, hashAt, hashTileProblem, resourcePath } from './integrity.js';
import { loadSqlite } from './sqlite.js';
import { kindCode } from './tile-store.js';

export interface FsckProblem {
  /** The file (or database table) at fault. */
  file: string;
  problem: string;
}

export interface FsckReport {
  dataDir: string;
  treeSize: number;
  rootHash: string;
  /** Whether the checkpoint's signature was checked (with DIR/log.key or the key given). */
  checkpointSignature: 'verified' | 'not checked (no key)' | 'invalid';
  /** Full tiles and entry bundles checked. */
  files: number;
  /** Entries whose leaf hash was checked. */
  entries: number;
  /** Files checked as the bytes the server keeps to rewrite them on its next start. */
  pendingRewrite: number;
  problems: FsckProblem[];
}

export interface FsckOptions {
  /** Key to check the checkpoint signature with; default: the public half of DIR/log.key, if present. */
  publicKey?: KeyObject;
  /** Called as files are checked: how many, of how many. */
  progress?: (done: number, total: number) => void;
}

interface Row {
  kind: number;
  tile: number;
  width: number;
  data: Uint8Array;
}

/** Files read at once. */
const PARALLEL = 16;

interface DbState {
  origin: string;
  size: number;
  root: Uint8Array;
  checkpoint: string;
  partials: Row[];
  unsynced: Row[];
  tail: { idx: number; body: Uint8Array }[];
  /** `file_digests` rows by `kind/tile` (none for a log older than the table). */
  digests: Map<string, Uint8Array>;
}

async function readDb(dir: string): Promise<DbState> {
  const dbPath = join(dir, 'log.sqlite');
  try {
    await fs.access(dbPath);
  } catch {
    throw new SignetError('USAGE', `${dir} holds no embedded log (no log.sqlite)`);
  }
  const { DatabaseSync } = await loadSqlite();
  let db;
  try {
    db = new DatabaseSync(dbPath, { readOnly: true, timeout: 0 });
  } catch (e) {
    throw new SignetError('IO', `cannot open ${dbPath}: ${(e as Error).message}`, { cause: e });
  }
  try {
    db.exec('BEGIN');
    const state = db.prepare('SELECT origin, size, root, checkpoint FROM log_state WHERE id = 1').get() as
      | { origin: string; size: number; root: Uint8Array; checkpoint: string }
      | undefined;
    if (!state) throw new SignetError('TLOG', `${dbPath} holds no log state`);
    const first = Math.floor(state.size / TILE_WIDTH) * TILE_WIDTH;
    const out: DbState = {
      ...state,
      partials: db.prepare('SELECT kind, tile, width, data FROM partial').all() as unknown as Row[],
      unsynced: db.prepare('SELECT kind, tile, width, data FROM unsynced').all() as unknown as Row[],
      tail: db.prepare('SELECT idx, body FROM partial_entries WHERE idx >= ? AND idx < ? ORDER BY idx').all(first, state.size) as { idx: number; body: Uint8Array }[],
      digests: new Map(),
    };
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'file_digests'").get()) {
      for (const r of db.prepare('SELECT kind, tile, digest FROM file_digests').iterate() as Iterable<{ kind: number; tile: number; digest: Uint8Array }>) {
        out.digests.set(`${r.kind}/${r.tile}`, r.digest);
      }
    }
    db.exec('COMMIT');
    return out;
  } catch (e) {
    if (e instanceof SignetError) throw e;
    const msg = (e as Error).message ?? String(e);
    if (/locked|busy/i.test(msg)) {
      throw new SignetError('TLOG', `the log in ${dir} is in use by a running server, which holds log.sqlite locked; stop it and run fsck again (nothing was changed)`, { cause: e });
    }
    throw new SignetError('IO', `cannot read ${dbPath}: ${msg}`, { cause: e });
  } finally {
    db.close();
  }
}

async function defaultKey(dir: string): Promise<KeyObject | undefined> {
  let pem: string;
  try {
    pem = await fs.readFile(join(dir, 'log.key'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return createPublicKey(createPrivateKey(pem));
  } catch {
    return undefined;
  }
}

/** Checks the embedded log in `dir`; throws only when it cannot check at all (no log, in use). */
export async function fsckLog(dir: string, opts: FsckOptions = {}): Promise<FsckReport> {
  const st = await readDb(dir);
  const size = st.size;
  const root = join(dir, 'tiles');
  const dbFile = join(dir, 'log.sqlite');
  const problems: FsckProblem[] = [];
  const bad = (file: string, problem: string): void => void problems.push({ file, problem });

  // The checkpoint: signed by the log's key, for the committed size and root.
  const key = opts.publicKey ?? (await defaultKey(dir));
  let checkpointSignature: FsckReport['checkpointSignature'] = key ? 'verified' : 'not checked (no key)';
  let cp: { size: number; rootHash: Uint8Array } | undefined;
  try {
    if (key) {
      try {
        cp = verifyCheckpoint(st.checkpoint, { name: st.origin.split(' - ')[0]!.trim(), publicKey: key }, { origin: st.origin });
      } catch (e) {
        checkpointSignature = 'invalid';
        bad(`${dbFile} (checkpoint)`, `the signed checkpoint does not verify with the log's key: ${(e as Error).message}`);
      }
    }
    cp ??= parseCheckpoint(parseNote(st.checkpoint).text);
    if (cp.size !== size || !hashEquals(cp.rootHash, st.root)) bad(`${dbFile} (checkpoint)`, `the signed checkpoint is for size ${cp.size}, root ${toHex(cp.rootHash)}; the log's state is size ${size}, root ${toHex(st.root)}`);
  } catch (e) {
    bad(`${dbFile} (checkpoint)`, `the signed checkpoint does not parse: ${(e as Error).message}`);
  }

  // The partial tiles at the right edge reproduce the committed root.
  const partialRows = new Map(st.partials.map((r) => [`${r.kind}/${r.tile}`, r]));
  const partials = new Map<string, Uint8Array>();
  for (const t of partialTiles(size)) {
    const row = partialRows.get(`${t.level}/${t.index}`);
    let data: Uint8Array | undefined = row && row.width === t.width ? row.data : undefined;
    if (!data) {
      // A log of the older layout keeps partials as files until its next start.
      data = await fs.readFile(join(root, resourcePath(t.level, t.index, t.width))).catch(() => undefined);
    }
    if (data) partials.set(`${t.level}/${t.index}`, data);
    else bad(`${dbFile} (table partial)`, `holds no partial tile ${resourcePath(t.level, t.index, t.width)}`);
  }
  try {
    const appender = TileAppender.restore(size, (t) => partials.get(`${t.level}/${t.index}`));
    if (!hashEquals(appender.root(), st.root)) bad(`${dbFile} (table partial)`, `the partial tiles do not reproduce the committed root hash at size ${size}`);
  } catch (e) {
    if (partials.size === partialTiles(size).length) bad(`${dbFile} (table partial)`, `the partial tiles do not form a tree of size ${size}: ${(e as Error).message}`);
  }

  // The partial bundle's entries against the partial level-0 tile.
  let entries = 0;
  const tailWidth = size % TILE_WIDTH;
  const tailIndex = Math.floor(size / TILE_WIDTH);
  const tailTile = partials.get(`0/${tailIndex}`);
  if (tailWidth > 0 && tailTile) {
    let bodies: Uint8Array[] | undefined;
    let where = `${dbFile} (table partial_entries)`;
    if (st.tail.length === tailWidth && st.tail.every((r, i) => r.idx === tailIndex * TILE_WIDTH + i)) bodies = st.tail.map((r) => r.body);
    else {
      where = join(root, resourcePath('entries', tailIndex, tailWidth));
      const file = await fs.readFile(where).catch(() => undefined);
      try {
        if (file) bodies = decodeEntryBundle(file, tailWidth);
      } catch {
        // reported below
      }
    }
    if (!bodies) bad(`${dbFile} (table partial_entries)`, `holds ${st.tail.length} of the partial bundle's ${tailWidth} entries`);
    else {
      bodies.forEach((b, i) => {
        if (!hashEquals(entryLeafHash(b), hashAt(tailTile, i))) bad(where, `holds an entry ${tailIndex * TILE_WIDTH + i} that does not match its leaf hash in the partial level-0 tile`);
      });
      entries += bodies.length;
    }
  }

  // Full tiles from the top level down, each against the hash its parent holds; bundles with level 0.
  const unsynced = new Map(st.unsynced.map((r) => [`${r.kind}/${r.tile}/${r.width}`, r.data]));
  let pendingRewrite = 0;
  let files = 0;
  const fullCount = (kind: Kind): number => Math.floor((kind === 'entries' ? size : Math.floor(size / TILE_WIDTH ** kind)) / TILE_WIDTH);
  let top = -1;
  while (fullCount(top + 1) > 0) top++;
  const total = fullCount('entries') + Array.from({ length: top + 1 }, (_, l) => fullCount(l)).reduce((a, b) => a + b, 0);
  const corruptPaths = new Set<string>();
  /** A file the tree vouches for must have the digest its row records (the server trusts the row on reads). */
  const checkDigest = (kind: Kind, index: number, data: Uint8Array): void => {
    const row = st.digests.get(`${kindCode(kind)}/${index}`);
    if (row && !hashEquals(row, fileDigest(data))) bad(`${dbFile} (table file_digests, ${resourcePath(kind, index, TILE_WIDTH)})`, 'holds a digest that does not match the file the tree vouches for');
  };

  const read = async (kind: Kind, index: number): Promise<Uint8Array | undefined> => {
    const row = unsynced.get(`${kindCode(kind)}/${index}/${TILE_WIDTH}`);
    if (row) {
      pendingRewrite++;
      return row;
    }
    const path = join(root, resourcePath(kind, index, TILE_WIDTH));
    try {
      return await fs.readFile(path);
    } catch (e) {
      bad(path, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read: ${(e as Error).message}`);
      return undefined;
    }
  };
  /** The hash tile `level + 1` holds for full tile (level, index), with that tile's path; undefined if unreadable. */
  const hashAbove = (upper: Map<number, Uint8Array>, level: number, index: number): { hash: Uint8Array; parent: string } | undefined => {
    const p = Math.floor(index / TILE_WIDTH);
    const pos = index % TILE_WIDTH;
    const full = tileWidth(level + 1, p, size) === TILE_WIDTH;
    const bytes = full ? upper.get(p) : partials.get(`${level + 1}/${p}`);
    if (!bytes || bytes.length < (pos + 1) * 32) return undefined;
    return { hash: hashAt(bytes, pos), parent: full ? join(root, resourcePath(level + 1, p, TILE_WIDTH)) : `${dbFile} (table partial)` };
  };

  let upper = new Map<number, Uint8Array>();
  let done = 0;
  for (let level = top; level >= 0; level--) {
    const current = new Map<number, Uint8Array>();
    const n = fullCount(level);
    for (let at = 0; at < n; at += PARALLEL) {
      const idx = Array.from({ length: Math.min(PARALLEL, n - at) }, (_, j) => at + j);
      const tiles = await Promise.all(idx.map((i) => read(level, i)));
      const bundles = level === 0 ? await Promise.all(idx.map((i) => read('entries', i))) : [];
      idx.forEach((i, j) => {
        const path = join(root, resourcePath(level, i, TILE_WIDTH));
        const data = tiles[j];
        const above = hashAbove(upper, level, i);
        let tileOk = false;
        if (data) {
          files++;
          // Under a parent already found corrupt, a mismatch says nothing new about this tile: it is
          // used as it is to check the level below, which shows whether it agrees with its own children.
          const problem = above && !corruptPaths.has(above.parent) ? hashTileProblem(data, above.hash) : undefined;
          if (problem) {
            corruptPaths.add(path);
            bad(path, problem);
          } else tileOk = above !== undefined;
          if (tileOk) checkDigest(level, i, data);
          if (level > 0) current.set(i, data);
        }
        if (level !== 0) return;
        const bundle = bundles[j];
        if (!bundle) return;
        files++;
        const bpath = join(root, resourcePath('entries', i, TILE_WIDTH));
        if (tileOk && data) {
          const checked = checkBundle(bundle, TILE_WIDTH, data);
          if ('problem' in checked) bad(bpath, checked.problem);
          else checkDigest('entries', i, bundle);
          entries += TILE_WIDTH;
        } else if (above) {
          // Its level-0 tile is missing or corrupt: check the bundle against the level-1 hash directly.
          let leaves: Uint8Array[] | undefined;
          try {
            leaves = decodeEntryBundle(bundle, TILE_WIDTH).map(entryLeafHash);
          } catch (e) {
            bad(bpath, `does not decode (${(e as Error).message})`);
          }
          if (leaves && hashTileProblem(Buffer.concat(leaves, FULL_TILE_BYTES), above.hash)) bad(bpath, 'does not hash to the value the tile above its level-0 tile holds');
          entries += TILE_WIDTH;
        }
      });
      done += idx.length * (level === 0 ? 2 : 1);
      opts.progress?.(done, total);
    }
    upper = current;
  }
  opts.progress?.(total, total);
  return { dataDir: dir, treeSize: size, rootHash: toHex(st.root), checkpointSignature, files, entries, pendingRewrite, problems };
}
