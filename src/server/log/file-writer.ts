/**
 * A worker thread that writes a batch's tile and entry-bundle files: temp file + write (+ fsync) + rename
 * for each, then (when durable) fsync of every directory touched. Done with blocking calls on its own
 * thread, these cost the event loop one message per batch, where the promise API cost it a dozen libuv
 * round trips per file (open, write, sync, close, rename) plus their bookkeeping.
 *
 * Writes may skip the flushes (`durable: false`) when the caller keeps the bytes durable elsewhere until
 * a later `sync` of the same paths (see embedded.ts): each flush waits for the device, and on the bench
 * machine a handful of them in a row were most of a commit's latency.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { JobWorker, type JobReply } from './job-worker.js';

interface WriteJob {
  id: number;
  op: 'write';
  durable: boolean;
  paths: string[];
  /** File i is `data[ends[i-1] .. ends[i])`. */
  ends: Uint32Array;
  data: ArrayBuffer;
}

/** fsync of each file that still exists, then of their directories. */
interface SyncJob {
  id: number;
  op: 'sync';
  paths: string[];
}

type Job = WriteJob | SyncJob;


export class FileWriter {
  readonly #jobs: JobWorker<Omit<WriteJob, 'id'> | Omit<SyncJob, 'id'>>;

  /** `tmpDir`: where temp files are made (same filesystem as the targets, emptied on start). */
  constructor(tmpDir: string) {
    this.#jobs = new JobWorker(new URL(import.meta.url), { tmpDir }, "the log's file writer");
  }

  /**
   * Resolves once every file is at its path, complete (renamed into place), and with `durable` (the
   * default) also flushed to disk with its directory entry.
   */
  write(files: { path: string; data: Uint8Array }[], durable = true): Promise<void> {
    const ends = new Uint32Array(files.length);
    let n = 0;
    files.forEach((f, i) => (ends[i] = n += f.data.byteLength));
    const data = new Uint8Array(n);
    let at = 0;
    for (const f of files) {
      data.set(f.data, at);
      at += f.data.byteLength;
    }
    return this.#jobs.send({ op: 'write', durable, paths: files.map((f) => f.path), ends, data: data.buffer }, [
      data.buffer,
      ends.buffer as ArrayBuffer,
    ]);
  }

  /** Makes files written with `durable: false` durable; paths removed meanwhile are skipped. */
  sync(paths: string[]): Promise<void> {
    return this.#jobs.send({ op: 'sync', paths });
  }

  async close(): Promise<void> {
    await this.#jobs.terminate();
  }
}

// ---- worker side ----

function syncPath(path: string, flags: number): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function runWorker(tmpDir: string): void {
  const knownDirs = new Set<string>();
  const write = (job: WriteJob): void => {
    const dirs = new Set<string>();
    let start = 0;
    job.paths.forEach((path, i) => {
      const bytes = new Uint8Array(job.data, start, job.ends[i]! - start);
      start = job.ends[i]!;
      const d = dirname(path);
      if (!knownDirs.has(d)) {
        mkdirSync(d, { recursive: true });
        knownDirs.add(d);
      }
      dirs.add(d);
      // Temp files live in one directory of their own, emptied on start: a crash mid-write leaves
      // nothing among the published tiles.
      const tmp = join(tmpDir, randomBytes(8).toString('hex'));
      const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
      try {
        writeAll(fd, bytes);
        if (job.durable) fsyncSync(fd);
      } catch (e) {
        closeSync(fd);
        rmSync(tmp, { force: true });
        throw e;
      }
      closeSync(fd);
      try {
        renameSync(tmp, path);
      } catch (e) {
        rmSync(tmp, { force: true });
        throw e;
      }
    });
    if (job.durable) for (const d of dirs) syncPath(d, fsc.O_RDONLY);
  };
  const sync = (job: SyncJob): void => {
    const dirs = new Set<string>();
    for (const path of job.paths) {
      try {
        syncPath(path, fsc.O_RDONLY);
      } catch (e) {
        // Gone meanwhile (removed by hand): nothing left to flush.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      dirs.add(dirname(path));
    }
    for (const d of dirs) syncPath(d, fsc.O_RDONLY);
  };
  parentPort!.on('message', (job: Job) => {
    const reply: JobReply = { id: job.id };
    try {
      if (job.op === 'write') write(job);
      else sync(job);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      reply.error = { message: err?.message ?? String(e), ...(err?.code ? { code: err.code } : {}) };
    }
    parentPort!.postMessage(reply);
  });
}

if (!isMainThread && (workerData as { tmpDir?: string } | null)?.tmpDir) runWorker((workerData as { tmpDir: string }).tmpDir);
