/**
 * The main-thread side of the log's worker threads (the file writer, the search index's run builder):
 * jobs posted with an id, answered `{id, error?}`; the thread is referenced only while a job is
 * outstanding, so pending work keeps the process alive and an idle thread does not; once the thread
 * fails or exits, every waiting and later job is rejected with that error.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * On a worker thread: lowers this thread's scheduling priority by `nice` (Linux, where a thread has a
 * priority of its own; elsewhere nothing happens). Background work (merging index runs) then takes the CPU
 * the request path leaves, and catches up when the log is idle. Returns whether it was applied.
 */
export function niceThisThread(nice: number): boolean {
  try {
    const tid = Number(/\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]);
    if (!Number.isSafeInteger(tid) || tid <= 0) return false;
    setPriority(tid, Math.min(19, getPriority(tid) + nice));
    return true;
  } catch {
    return false;
  }
}

export interface JobReply {
  id: number;
  error?: { message: string; code?: string };
}

export class JobWorker<J extends object> {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(): void; reject(e: unknown): void }>();
  #next = 0;
  #dead: Error | null = null;

  /** `what` names the thread in the error when it dies ("the log's file writer"). */
  constructor(module: URL, workerData: unknown, what: string) {
    this.#worker = new Worker(module, { workerData });
    this.#worker.unref();
    this.#worker.on('message', (r: JobReply) => {
      const w = this.#waiting.get(r.id);
      this.#waiting.delete(r.id);
      if (!w) return;
      if (!r.error) return w.resolve();
      const e = new Error(r.error.message) as NodeJS.ErrnoException;
      if (r.error.code) e.code = r.error.code;
      w.reject(e);
    });
    const fail = (e: Error): void => {
      this.#dead ??= e;
      for (const w of this.#waiting.values()) w.reject(e);
      this.#waiting.clear();
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`${what} exited (code ${code})`)));
  }

  /** Post `job` (given an id) with `transfer` moved to the thread; resolves when the thread answers. */
  send(job: J, transfer: ArrayBuffer[] = []): Promise<void> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise<void>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.ref();
      this.#worker.postMessage({ ...job, id }, transfer);
    }).finally(() => {
      if (this.#waiting.size === 0) this.#worker.unref();
    });
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }
}
