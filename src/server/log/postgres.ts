/**
 * PostgreSQL storage: the whole log (entries, tiles, search index, state row with the signed checkpoint)
 * in one database, so several servers can share one log. A batch is integrated onto the state this server
 * last saw and written by one statement that moves the state row only from that size (WRITE_BATCH):
 * sequencing is serialized across servers by that row, held only for the statement and its commit. A
 * write that lost the race gets the new state in its answer; the batch, and the next ones until no other
 * server wrote in between, then take the row's lock first. Duplicates fail the write on the unique leaf
 * hash and are then looked up.
 *
 * Only the newest version of each tile is stored (a narrower width is a prefix of it), and entry bundles
 * are assembled from the entries table, so no byte is stored twice.
 */
import { type KeyObject, randomBytes } from 'node:crypto';
import pg from 'pg';
import { SignetError } from '../../errors.js';
import {
  EMPTY_ROOT,
  TILE_WIDTH,
  TileAppender,
  type TileId,
  encodeEntryBundle,
  hashEquals,
  tilePath,
} from '../../tlog/index.js';
import {
  type BatchItem,
  type BatchOutcome,
  CheckpointSigner,
  type LogStorage,
  checkTileArgs,
  defaultOrigin,
  expandTile,
  type OriginDefault,
  newTreeId,
} from './common.js';
import type { SharedWriteMetrics, SignedCheckpoint, StoredEntry } from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS signet_log_state (
  id integer PRIMARY KEY CHECK (id = 1),
  tree_id bigint NOT NULL,
  origin text NOT NULL,
  log_id bytea NOT NULL,
  size bigint NOT NULL,
  root bytea NOT NULL,
  checkpoint text NOT NULL
);
CREATE TABLE IF NOT EXISTS signet_log_entries (
  idx bigint PRIMARY KEY,
  leaf_hash bytea NOT NULL UNIQUE,
  body bytea NOT NULL,
  itime bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS signet_log_tiles (
  level integer NOT NULL,
  idx bigint NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS signet_log_search (
  key text NOT NULL,
  idx bigint NOT NULL,
  PRIMARY KEY (key, idx)
);
`;

/**
 * The state and, in the same snapshot, its partial tiles (tlog partialTiles in SQL, for 256-wide tiles:
 * at level l the tile size >> 8(l+1), when (size >> 8l) mod 256 is not 0). Levels 0–6 cover every size
 * below 2^56, more than a log index can reach.
 */
const READ_STATE_TILES = `SELECT s.size, s.root, s.checkpoint, p.level, p.idx, t.data
FROM signet_log_state s
LEFT JOIN LATERAL (SELECT l AS level, s.size >> (8 * (l + 1)) AS idx FROM generate_series(0, 6) AS l WHERE (s.size >> (8 * l)) & 255 <> 0) p ON true
LEFT JOIN signet_log_tiles t ON t.level = p.level AND t.idx = p.idx
WHERE s.id = 1`;

/**
 * READ_STATE_TILES as a VOLATILE function (created with the schema): called from a statement, it reads in
 * a snapshot of its own, taken when it runs (READ COMMITTED), so it sees commits the statement waited for.
 */
const STATE_TILES_FUNCTION = `
CREATE OR REPLACE FUNCTION signet_log_state_tiles() RETURNS TABLE (size bigint, root bytea, checkpoint text, level integer, idx bigint, data bytea)
LANGUAGE sql VOLATILE AS $$ ${READ_STATE_TILES} $$;
`;

/**
 * A batch is written by one statement (data-modifying CTEs, which touch separate tables): the entries,
 * tiles and search rows it adds, and the new state, all gated on moving the state row from the size the
 * batch was integrated onto ($1). Outside a transaction it commits by itself, so the state row is locked
 * for that statement and its commit only: another server's batch waits no longer than that. One round trip
 * per batch, where taking the lock first (BEGIN, lock, write, COMMIT) held it for three.
 *
 * When another server moved the log first, the UPDATE matches no row (READ COMMITTED re-checks the newest
 * version after waiting), nothing is written, and the statement answers with the newest state and its
 * partial tiles instead of `moved` (signet_log_state_tiles, which reads after the UPDATE's wait): the next
 * try needs no read of its own.
 *
 * Bodies, leaf hashes and tiles go as three single bytea parameters (concatenated, cut apart by offsets and
 * lengths in SQL), which node-postgres sends as binary: a bytea[] parameter is sent as text, every byte
 * as two hex digits built into one string.
 */
const WRITE_BATCH = `WITH
  st AS (UPDATE signet_log_state SET size = $14, root = $15, checkpoint = $16 WHERE id = 1 AND size = $1 RETURNING 1),
  entries AS (INSERT INTO signet_log_entries (idx, leaf_hash, body, itime)
    SELECT $1 + k - 1, substring($2::bytea FROM (32 * k - 31)::int FOR 32), substring($3::bytea FROM o FOR n), $6 FROM st, unnest($4::int[], $5::int[]) WITH ORDINALITY AS u(o, n, k)),
  tiles AS (INSERT INTO signet_log_tiles (level, idx, data)
    SELECT l, i, substring($9::bytea FROM o FOR n) FROM st, unnest($7::int[], $8::bigint[], $10::int[], $11::int[]) AS u(l, i, o, n) ON CONFLICT (level, idx) DO UPDATE SET data = EXCLUDED.data),
  search AS (INSERT INTO signet_log_search (key, idx) SELECT k, i FROM st, unnest($12::text[], $13::bigint[]) AS u(k, i) ON CONFLICT DO NOTHING)
SELECT true AS moved, NULL::bigint AS size, NULL::bytea AS root, NULL::text AS checkpoint, NULL::int AS level, NULL::bigint AS idx, NULL::bytea AS data FROM st
UNION ALL
SELECT false, * FROM signet_log_state_tiles() WHERE NOT EXISTS (SELECT 1 FROM st)`;

const READ_STATE = 'SELECT size, root, checkpoint FROM signet_log_state WHERE id = 1';

/** BEGIN and the state row's lock in one round trip (a simple query of two statements: the transaction goes on after it). */
const LOCK_STATE = 'BEGIN; SELECT size FROM signet_log_state WHERE id = 1 FOR UPDATE';

/** Optimistic writes a batch tries when each meets an entry another server has just written. */
const LEAF_CONFLICT_TRIES = 3;
const NOTHING_FOUND: ReadonlyMap<string, ExistingRow> = new Map<string, ExistingRow>();

/** Serializes schema creation between servers starting at once (CREATE IF NOT EXISTS alone races). */
const SCHEMA_LOCK = 0x5349474e45544c47n; // "SIGNETLG"

/** The state row's committed checkpoint (READ_STATE). */
interface StateCheckpointRow {
  size: string;
  root: Buffer;
  checkpoint: string;
}

interface StateRow extends StateCheckpointRow {
  tree_id: string;
  origin: string;
  log_id: Buffer;
}

/** The state row with one of its partial tiles (level, idx and data null when it has none). */
interface StateTileRow extends StateCheckpointRow {
  level: number | null;
  idx: string | null;
  data: Buffer | null;
}

/** An entry's row, as the duplicate lookup reads it. */
interface ExistingRow {
  idx: string;
  leaf_hash: Buffer;
  body: Buffer;
  itime: string;
}

/** `parts` concatenated, with each one's 1-based offset (as SQL's substring counts) and length. */
function packed(parts: readonly Uint8Array[]): { bytes: Buffer; offsets: number[]; lengths: number[] } {
  const offsets: number[] = new Array(parts.length);
  const lengths: number[] = new Array(parts.length);
  let at = 1;
  parts.forEach((p, i) => {
    offsets[i] = at;
    lengths[i] = p.byteLength;
    at += p.byteLength;
  });
  return { bytes: Buffer.concat(parts, at - 1), offsets, lengths };
}

/** The batch wrote an entry that is already in the log (its leaf hash is unique). */
function isLeafConflict(e: unknown): boolean {
  const err = e as { code?: string; constraint?: string };
  return err?.code === '23505' && err.constraint === 'signet_log_entries_leaf_hash_key';
}

function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_m, cred: string) => `//${cred.includes(':') ? `${cred.split(':')[0]}:***` : cred}@`);
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE', '57P01', '57P03']);

function dbError(what: string, url: string, e: unknown): SignetError {
  if (e instanceof SignetError) return e;
  const err = e as { code?: string; message?: string };
  const msg = (err?.message ?? String(e)).replace(/\s*\n\s*/g, ' ');
  if ((err?.code && NETWORK_CODES.has(err.code)) || /timeout|terminated|connection/i.test(msg)) {
    return new SignetError('NETWORK', `${what}: cannot reach the log database at ${redact(url)}: ${msg || err?.code}`, { cause: e });
  }
  return new SignetError('TLOG', `${what}: log database error: ${msg}`, { cause: e });
}

export class PostgresStorage implements LogStorage {
  readonly treeId: bigint;
  readonly origin: string;
  readonly #url: string;
  readonly #pool: pg.Pool;
  readonly #signer: CheckpointSigner;
  /**
   * Integration state at `#known` (the committed state this server last wrote or read); null when it has
   * to be read again (another server moved the log, or a write of this server's failed or is in flight).
   */
  #appender: TileAppender | null = null;
  #known: SignedCheckpoint | null = null;
  readonly #shared: SharedWriteMetrics = { lost: 0, locked: 0 };
  /**
   * Set when a write of this server lost the race: its batches then lock the state row first, until one
   * finds that no other server wrote since this one's last batch. Two servers under full load overlap
   * nearly always (two writes in three lost, in the bench), and each lost write costs a statement with all
   * its bodies and a rebuilt tree: locking first was as fast or faster there, and steadier (5,288–5,447
   * entries/s against 4,422–5,556 in three paired runs), while one server alone never waits for a lock.
   */
  #contended = false;
  /** The log's size after this server's last write. */
  #lastWritten = -1;
  #closed = false;

  private constructor(url: string, pool: pg.Pool, signer: CheckpointSigner, treeId: bigint) {
    this.#url = url;
    this.#pool = pool;
    this.#signer = signer;
    this.treeId = treeId;
    this.origin = signer.origin;
  }

  static async open(url: string, key: KeyObject, origin?: string, fallbackOrigin?: OriginDefault): Promise<PostgresStorage> {
    const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000 });
    // Idle clients that lose their connection emit here; the next query reports the failure instead.
    pool.on('error', () => undefined);
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw dbError('cannot open the log', url, e);
    }
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK.toString()]);
      await client.query(SCHEMA + STATE_TILES_FUNCTION);
      let row = (await client.query<StateRow>('SELECT tree_id, origin, log_id, size, root, checkpoint FROM signet_log_state WHERE id = 1')).rows[0];
      let signer: CheckpointSigner;
      if (!row) {
        const treeId = newTreeId(randomBytes(8));
        signer = new CheckpointSigner(origin ?? defaultOrigin(treeId, fallbackOrigin), key);
        const cp = signer.sign(0, EMPTY_ROOT);
        await client.query('INSERT INTO signet_log_state (id, tree_id, origin, log_id, size, root, checkpoint) VALUES (1, $1, $2, $3, 0, $4, $5)', [
          treeId.toString(),
          signer.origin,
          signer.logId,
          cp.rootHash,
          cp.note,
        ]);
        row = { tree_id: treeId.toString(), origin: signer.origin, log_id: signer.logId, size: '0', root: cp.rootHash, checkpoint: cp.note };
      } else {
        if (origin !== undefined && origin !== row.origin) {
          throw new SignetError('USAGE', `the log in the database has origin ${JSON.stringify(row.origin)}; it cannot be served as ${JSON.stringify(origin)}`);
        }
        signer = new CheckpointSigner(row.origin, key);
        if (!signer.logId.equals(row.log_id)) {
          throw new SignetError(
            'TLOG',
            `the log in the database is signed by the key with log ID ${row.log_id.toString('hex')}, not by the given key (${signer.logId.toString('hex')}); every server of one log needs the same key`,
          );
        }
      }
      await client.query('COMMIT');
      client.release();
      return new PostgresStorage(url, pool, signer, BigInt(row.tree_id));
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      await pool.end().catch(() => undefined);
      throw dbError('cannot open the log', url, e);
    }
  }

  async #query<R extends pg.QueryResultRow>(what: string, q: pg.QueryConfig): Promise<R[]> {
    if (this.#closed) throw new SignetError('TLOG', 'the transparency log is closed');
    try {
      return (await this.#pool.query<R>(q)).rows;
    } catch (e) {
      throw dbError(what, this.#url, e);
    }
  }

  /**
   * Reads the committed state and the tiles its integration continues from, in one query without a lock
   * (a tile row holds its newest version, of which the width at the state's size is a prefix), and
   * rebuilds the appender from them.
   */
  async #load(client: pg.PoolClient): Promise<void> {
    const rows = (await client.query<StateTileRow>({ name: 'signet_log_state_tiles', text: READ_STATE_TILES })).rows;
    const st = rows[0];
    if (!st) throw new SignetError('TLOG', 'the log state row is missing from the database');
    this.#restore(Number(st.size), st.root, st.checkpoint, rows);
  }

  /** Sets the appender and the known state to `size`, from the partial tiles in `rows`, checked against `root`. */
  #restore(size: number, root: Buffer, note: string, rows: readonly StateTileRow[]): void {
    const got = new Map(rows.map((r) => [`${r.level}/${r.idx}`, r.data]));
    const appender = TileAppender.restore(size, (t) => got.get(`${t.level}/${t.index}`)?.subarray(0, t.width * 32), expandTile);
    if (!hashEquals(appender.root(), root)) {
      throw new SignetError('TLOG', `the log's tiles in the database do not reproduce the committed root hash at size ${size}`);
    }
    this.#appender = appender;
    this.#known = { origin: this.origin, size, rootHash: root, note };
  }

  async commitBatch(items: BatchItem[]): Promise<BatchOutcome> {
    if (this.#closed) throw new SignetError('TLOG', 'the transparency log is closed');
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw dbError('cannot append to the log', this.#url, e);
    }
    try {
      // Optimistic first: integrate onto the state this server last saw and write everything in one
      // statement that moves the state row only if the log is still at that size (see WRITE_BATCH). A
      // duplicate fails the write on the unique leaf hash and is then looked up. A write that lost the race
      // to another server answers with the new state, and the batch (with the following ones, see
      // #contended) locks the state row first, where it cannot lose.
      let found: ReadonlyMap<string, ExistingRow> = NOTHING_FOUND;
      for (let t = 0; t < LEAF_CONFLICT_TRIES && !this.#contended; t++) {
        if (!this.#appender) await this.#load(client);
        try {
          const out = await this.#write(client, items, found);
          if (out) return out;
          this.#shared.lost++;
          this.#contended = true;
        } catch (e) {
          if (!isLeafConflict(e)) throw e;
          found = await this.#existing(client, items);
        }
      }
      this.#shared.locked++;
      return await this.#commitLocked(client, items);
    } catch (e) {
      this.#appender = null;
      throw dbError('cannot append to the log', this.#url, e);
    } finally {
      client.release();
    }
  }

  /** The rows of those of `items` already in the log, by leaf hash (latin1). */
  async #existing(client: pg.PoolClient, items: BatchItem[]): Promise<Map<string, ExistingRow>> {
    const dups = await client.query<ExistingRow>({
      name: 'signet_log_dups',
      text: 'SELECT idx, leaf_hash, body, itime FROM signet_log_entries WHERE leaf_hash = ANY($1::bytea[])',
      values: [items.map((i) => i.leafHash)],
    });
    return new Map(dups.rows.map((r) => [r.leaf_hash.toString('latin1'), r]));
  }

  /**
   * Integrates the items not in `found` onto the known state and writes them with the new state in one
   * statement, which changes nothing unless the log is still at the known size. Returns null when another
   * server moved the log first: the appender is then rebuilt at the state the statement answered with, or
   * left to be read again when that is not newer (see WRITE_BATCH). Outside a transaction the
   * statement commits by itself; inside commitLocked's, which holds the state row, it cannot lose.
   */
  async #write(client: pg.PoolClient, items: BatchItem[], found: ReadonlyMap<string, ExistingRow>): Promise<BatchOutcome | null> {
    const appender = this.#appender!;
    const known = this.#known!;
    const start = known.size;
    const results: BatchOutcome['results'] = new Array(items.length);
    const fresh: number[] = [];
    items.forEach((item, i) => {
      const r = found.get(item.leafHash.toString('latin1'));
      if (r) results[i] = { entry: { index: Number(r.idx), leafHash: r.leaf_hash, body: r.body, integratedTime: Number(r.itime) }, duplicate: true };
      else fresh.push(i);
    });
    // Nothing to write: the answer carries the log's current checkpoint, which holds every found entry.
    if (fresh.length === 0) return { results, checkpoint: await this.#currentCheckpoint(client) };
    const itime = Math.floor(Date.now() / 1000);
    const end = start + fresh.length;
    // From here the appender runs ahead of the database: it is kept only once the write has moved the state.
    this.#appender = null;
    for (const i of fresh) appender.append(items[i]!.leafHash);
    const tiles = appender.flush();
    const checkpoint = this.#signer.sign(end, appender.root());
    const bodies = packed(fresh.map((i) => items[i]!.body));
    const tileData = packed(tiles.map((t) => t.data));
    const keys: string[] = [];
    const keyIdx: number[] = [];
    fresh.forEach((i, j) => {
      for (const k of items[i]!.indexKeys) {
        keys.push(k);
        keyIdx.push(start + j);
      }
    });
    const answer = await client.query<StateTileRow & { moved: boolean }>({
      name: 'signet_log_write_batch',
      text: WRITE_BATCH,
      values: [
        start,
        Buffer.concat(fresh.map((i) => items[i]!.leafHash), fresh.length * 32),
        bodies.bytes,
        bodies.offsets,
        bodies.lengths,
        itime,
        tiles.map((t) => t.level),
        tiles.map((t) => t.index),
        tileData.bytes,
        tileData.offsets,
        tileData.lengths,
        keys,
        keyIdx,
        end,
        checkpoint.rootHash,
        checkpoint.note,
      ],
    });
    const rows = answer.rows;
    if (rows[0]?.moved !== true) {
      // Lost: continue from the state the statement answered with, when it moved on (it always has, unless a
      // trigger or rule stopped the update).
      const st = rows[0];
      if (st && Number(st.size) !== start) this.#restore(Number(st.size), st.root, st.checkpoint, rows);
      return null;
    }
    this.#appender = appender;
    this.#known = checkpoint;
    this.#lastWritten = end;
    fresh.forEach((i, j) => {
      results[i] = { entry: { index: start + j, leafHash: items[i]!.leafHash, body: items[i]!.body, integratedTime: itime }, duplicate: false };
    });
    return { results, checkpoint };
  }

  async #currentCheckpoint(client: pg.PoolClient): Promise<SignedCheckpoint> {
    return this.#checkpointOf((await client.query<StateCheckpointRow>({ name: 'signet_log_state', text: READ_STATE })).rows[0]);
  }

  /** The checkpoint of a READ_STATE row; the row missing is a broken log. */
  #checkpointOf(row: StateCheckpointRow | undefined): SignedCheckpoint {
    if (!row) throw new SignetError('TLOG', 'the log state row is missing from the database');
    return { origin: this.origin, size: Number(row.size), rootHash: row.root, note: row.checkpoint };
  }

  /**
   * The batch under the state row's lock, in one transaction: no other server can write between its
   * duplicate lookup and its write. Rolled back on any failure.
   */
  async #commitLocked(client: pg.PoolClient, items: BatchItem[]): Promise<BatchOutcome> {
    try {
      const began = (await client.query(LOCK_STATE)) as unknown as pg.QueryResult<{ size: string }>[];
      const size = began[1]?.rows[0]?.size;
      if (size === undefined) throw new SignetError('TLOG', 'the log state row is missing from the database');
      // No other server wrote since this one's last batch: back to optimistic writes.
      if (Number(size) === this.#lastWritten) this.#contended = false;
      // Read after the lock, so in a snapshot no other server's batch can follow.
      if (!this.#appender || this.#known?.size !== Number(size)) await this.#load(client);
      const out = await this.#write(client, items, await this.#existing(client, items));
      if (!out) throw new SignetError('TLOG', 'the log state moved while its row was locked');
      await client.query('COMMIT');
      return out;
    } catch (e) {
      this.#appender = null;
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  }

  sharedWrites(): SharedWriteMetrics {
    return { ...this.#shared };
  }

  async checkpoint(): Promise<SignedCheckpoint> {
    return this.#checkpointOf((await this.#query<StateCheckpointRow>('cannot read the log state', { name: 'signet_log_state', text: READ_STATE }))[0]);
  }

  async entryByIndex(index: number): Promise<StoredEntry | null> {
    if (!Number.isSafeInteger(index) || index < 0) throw new SignetError('USAGE', `log index must be a non-negative integer, got ${String(index)}`);
    const r = (
      await this.#query<{ leaf_hash: Buffer; body: Buffer; itime: string }>('cannot read a log entry', {
        name: 'signet_log_entry_idx',
        text: 'SELECT leaf_hash, body, itime FROM signet_log_entries WHERE idx = $1',
        values: [index],
      })
    )[0];
    return r ? { index, leafHash: r.leaf_hash, body: r.body, integratedTime: Number(r.itime) } : null;
  }

  async entryByLeafHash(leafHash: Buffer): Promise<StoredEntry | null> {
    if (!Buffer.isBuffer(leafHash) || leafHash.length !== 32) throw new SignetError('USAGE', 'a leaf hash is 32 bytes');
    const r = (
      await this.#query<{ idx: string; body: Buffer; itime: string }>('cannot read a log entry', {
        name: 'signet_log_entry_leaf',
        text: 'SELECT idx, body, itime FROM signet_log_entries WHERE leaf_hash = $1',
        values: [leafHash],
      })
    )[0];
    return r ? { index: Number(r.idx), leafHash: Buffer.from(leafHash), body: r.body, integratedTime: Number(r.itime) } : null;
  }

  async search(key: string): Promise<number[]> {
    const rows = await this.#query<{ idx: string }>('cannot search the log', {
      name: 'signet_log_search',
      text: 'SELECT idx FROM signet_log_search WHERE key = $1 ORDER BY idx',
      values: [key],
    });
    return rows.map((r) => Number(r.idx));
  }

  async readTiles(tiles: TileId[]): Promise<Map<string, Uint8Array>> {
    const rows = await this.#query<{ level: number; idx: string; data: Buffer }>('cannot read log tiles', {
      name: 'signet_log_tiles',
      text: 'SELECT level, idx, data FROM signet_log_tiles WHERE (level, idx) IN (SELECT * FROM unnest($1::int[], $2::bigint[]))',
      values: [tiles.map((t) => t.level), tiles.map((t) => t.index)],
    });
    const got = new Map(rows.map((r) => [`${r.level}/${r.idx}`, r.data]));
    const out = new Map<string, Uint8Array>();
    for (const t of tiles) {
      const d = got.get(`${t.level}/${t.index}`);
      if (d && d.length >= t.width * 32) out.set(tilePath(t.level, t.index, t.width), d.subarray(0, t.width * 32));
    }
    return out;
  }

  async tile(level: number, index: number, width?: number): Promise<Buffer | null> {
    const w = checkTileArgs(level, index, width);
    const m = await this.readTiles([{ level, index, width: w }]);
    const d = m.get(tilePath(level, index, w));
    return d ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : null;
  }

  async entryBundle(index: number, width?: number): Promise<Buffer | null> {
    const w = checkTileArgs(0, index, width);
    const first = index * TILE_WIDTH;
    const rows = await this.#query<{ body: Buffer }>('cannot read log entries', {
      name: 'signet_log_bundle',
      text: 'SELECT body FROM signet_log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx',
      values: [first, first + w],
    });
    if (rows.length < w) return null;
    return Buffer.from(encodeEntryBundle(rows.map((r) => r.body)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
