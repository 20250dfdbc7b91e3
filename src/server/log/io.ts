/** File and database helpers the embedded log's modules share (embedded.ts, tile-store.ts, search-index.ts, recovery.ts). */
import { promises as fs, constants as fsc } from 'node:fs';
import type { DatabaseSync } from 'node:sqlite';
import { SignetError } from '../../errors.js';

export function isEnoent(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

export function ioFail(what: string, e: unknown): SignetError {
  const err = e as NodeJS.ErrnoException;
  return new SignetError('IO', `${what}: ${err?.code ?? ''} ${err?.message ?? String(e)}`.replace(/\s+/g, ' ').trim(), { cause: e });
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * An open descriptor on a database's WAL file, which an earlier write created: the file and its
 * directory entry (in `dir`) are made durable once here, after which only the file's own data needs syncing.
 */
export async function openWal(dbPath: string, dir: string): Promise<fs.FileHandle> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(`${dbPath}-wal`, fsc.O_RDWR);
    await fh.sync();
    await syncDir(dir);
    return fh;
  } catch (e) {
    await fh?.close().catch(() => undefined);
    throw ioFail(`cannot open the write-ahead log ${dbPath}-wal`, e);
  }
}

/** Runs `fn` in one write transaction: committed whole, or rolled back and its error rethrown. */
export function transaction(db: DatabaseSync, fn: () => void): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    fn();
    db.exec('COMMIT');
  } catch (e) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // the failed statement may already have ended the transaction
    }
    throw e;
  }
}
