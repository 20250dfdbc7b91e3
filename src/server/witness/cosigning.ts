/**
 * The log's side of witnessing (`signet serve --witness URL,VKEY`): rounds that send the newest checkpoint
 * to every configured witness (C2SP tlog-witness add-checkpoint, with the consistency proof from the size
 * each witness holds), check each cosignature that comes back against that witness's key, and keep the
 * newest checkpoint that carries them as a signed note with several signature lines.
 *
 * A witness's held size is learned from its answers: 200 (it now holds ours) or 409 with its size, after
 * which the request is made again with the proof from there. Rounds run every `intervalMs`, and at once
 * when a write waits for a quorum (`waitFor`), back to back while writes keep waiting, so one round
 * serves every write of the batches committed before it started.
 */
import { SignetError } from '../../errors.js';
import { type Cosigner, parseVkey, ed25519FromRaw, verifyCosignatures } from '../../tlog/cosignature.js';
import type { SignedCheckpoint } from '../log/types.js';
import { addCheckpointBody } from './index.js';

export interface WitnessEndpoint {
  /** The witness's submission prefix; requests go to `<url>/add-checkpoint`. */
  url: string;
  cosigner: Cosigner;
}

/** What cosigning needs of the log. */
export interface CosignedLog {
  checkpoint(): Promise<SignedCheckpoint>;
  consistencyProof(size1: number, size2: number): Promise<Buffer[]>;
}

export interface CosigningOptions {
  /** Cosignatures a checkpoint needs before it is published (at least 1). */
  quorum: number;
  /** Time between rounds while no write waits. */
  intervalMs?: number;
  /** How long one witness request may take. */
  requestTimeoutMs?: number;
  /** How long a write waits for a quorum before it is answered 503. */
  waitTimeoutMs?: number;
  /** Where a failed witness request is reported (one line each, at most once per witness per minute). */
  warn?: (line: string) => void;
}

/** Parse `--witness URL,VKEY`: the witness's URL and its cosignature/v1 verifier key. */
export function parseWitnessFlag(v: string): WitnessEndpoint {
  const comma = v.indexOf(',');
  if (comma < 0) throw new SignetError('USAGE', `--witness ${JSON.stringify(v.slice(0, 80))}: expected URL,VKEY (the witness's URL and its key as signet witness --print-vkey shows it)`);
  const url = v.slice(0, comma).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SignetError('USAGE', `--witness: ${JSON.stringify(url.slice(0, 80))} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new SignetError('USAGE', `--witness: ${url} is not an http(s) URL`);
  const vkey = parseVkey(v.slice(comma + 1));
  if (vkey.type !== 0x04) throw new SignetError('USAGE', `--witness: the key of ${vkey.name} is not a cosignature/v1 key (type 0x04)`);
  return { url, cosigner: { name: vkey.name, publicKey: ed25519FromRaw(vkey.key) } };
}

interface Waiter {
  size: number;
  resolve: (cp: SignedCheckpoint) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

export class CheckpointCosigning {
  readonly #log: CosignedLog;
  readonly #witnesses: WitnessEndpoint[];
  readonly #quorum: number;
  readonly #interval: number;
  readonly #requestTimeout: number;
  readonly #waitTimeout: number;
  readonly #warn: (line: string) => void;
  /** The size each witness holds for this log, once known. */
  readonly #held = new Map<WitnessEndpoint, number>();
  readonly #lastWarned = new Map<WitnessEndpoint, number>();
  #latest: SignedCheckpoint | undefined;
  #round: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #waiters: Waiter[] = [];
  #closed = false;
  #rounds = 0;
  #failures = 0;

  constructor(log: CosignedLog, witnesses: WitnessEndpoint[], opts: CosigningOptions) {
    if (witnesses.length === 0) throw new SignetError('USAGE', 'cosigning needs at least one witness');
    if (!Number.isInteger(opts.quorum) || opts.quorum < 1 || opts.quorum > witnesses.length) {
      throw new SignetError('USAGE', `the witness quorum must be 1..${witnesses.length} (the number of --witness flags), got ${opts.quorum}`);
    }
    this.#log = log;
    this.#witnesses = witnesses;
    this.#quorum = opts.quorum;
    this.#interval = opts.intervalMs ?? 1000;
    this.#requestTimeout = opts.requestTimeoutMs ?? 10_000;
    this.#waitTimeout = opts.waitTimeoutMs ?? 30_000;
    this.#warn = opts.warn ?? (() => undefined);
  }

  /** Start the periodic rounds (the first one at once). */
  start(): void {
    this.#kick();
  }

  /** The newest checkpoint cosigned by a quorum, the witnesses' lines appended to the log's note. */
  latest(): SignedCheckpoint | undefined {
    return this.#latest;
  }

  metrics(): { rounds: number; failures: number; cosignedSize: number } {
    return { rounds: this.#rounds, failures: this.#failures, cosignedSize: this.#latest?.size ?? 0 };
  }

  /** A cosigned checkpoint covering at least `size` entries; rejects with a 503-worthy error after the wait timeout. */
  waitFor(size: number): Promise<SignedCheckpoint> {
    if (this.#latest && this.#latest.size >= size) return Promise.resolve(this.#latest);
    if (this.#closed) return Promise.reject(new SignetError('TLOG', 'the server is shutting down'));
    return new Promise<SignedCheckpoint>((resolve, reject) => {
      const w: Waiter = {
        size,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          reject(new SignetError('TLOG', `no quorum of ${this.#quorum} witness cosignature(s) for tree size ${size} within ${this.#waitTimeout / 1000} s; the entry is in the log: resubmit it to get its proof`));
        }, this.#waitTimeout),
      };
      this.#waiters.push(w);
      this.#kick();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#round;
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new SignetError('TLOG', 'the server is shutting down'));
    }
    this.#waiters = [];
  }

  /** Run a round now unless one is running (the running one re-kicks itself while writes wait). */
  #kick(): void {
    if (this.#closed || this.#round) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#round = this.#runRound().finally(() => {
      this.#round = undefined;
      if (this.#closed) return;
      const pending = this.#waiters.some((w) => !this.#latest || w.size > this.#latest.size);
      if (pending) setImmediate(() => this.#kick());
      else this.#timer = setTimeout(() => this.#kick(), this.#interval).unref();
    });
  }

  async #runRound(): Promise<void> {
    this.#rounds++;
    let cp: SignedCheckpoint;
    try {
      cp = await this.#log.checkpoint();
    } catch (e) {
      this.#failures++;
      this.#warnOnce(this.#witnesses[0]!, `cannot read the log's checkpoint for the witnesses: ${(e as Error).message}`);
      return;
    }
    if (cp.size === 0 || (this.#latest && this.#latest.size >= cp.size)) {
      this.#settle();
      return;
    }
    const lines = await Promise.all(this.#witnesses.map((w) => this.#cosign(w, cp).catch((e: unknown) => {
      this.#failures++;
      this.#warnOnce(w, `witness ${w.cosigner.name} at ${w.url}: ${(e as Error).message}`);
      return undefined;
    })));
    const got = lines.filter((l): l is string => l !== undefined);
    if (got.length >= this.#quorum) {
      this.#latest = { ...cp, note: cp.note + got.join('') };
      this.#settle();
    }
  }

  #settle(): void {
    const cp = this.#latest;
    if (!cp) return;
    const ready = this.#waiters.filter((w) => w.size <= cp.size);
    this.#waiters = this.#waiters.filter((w) => w.size > cp.size);
    for (const w of ready) {
      clearTimeout(w.timer);
      w.resolve(cp);
    }
  }

  /** One witness's cosignature line on `cp`, checked against its key; learns its held size on 409. */
  async #cosign(w: WitnessEndpoint, cp: SignedCheckpoint): Promise<string> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const held = this.#held.get(w) ?? 0;
      if (held > cp.size) throw new SignetError('TLOG', `it holds tree size ${held}, larger than this log's ${cp.size} (another server of this log, or a fork)`);
      const proof = held === 0 || held === cp.size ? [] : await this.#log.consistencyProof(held, cp.size);
      const res = await fetch(`${w.url}/add-checkpoint`, {
        method: 'POST',
        body: addCheckpointBody(held, proof, cp.note),
        signal: AbortSignal.timeout(this.#requestTimeout),
      });
      const text = (await res.text()).slice(0, 4096);
      if (res.status === 409 && res.headers.get('content-type')?.startsWith('text/x.tlog.size')) {
        const size = /^(0|[1-9][0-9]*)\n$/.exec(text);
        if (!size) throw new SignetError('TLOG', `409 with a malformed size body ${JSON.stringify(text.slice(0, 40))}`);
        const n = Number(size[1]);
        if (n === held) throw new SignetError('TLOG', `409: it holds size ${n} with another root hash (a fork of this log?)`);
        this.#held.set(w, n);
        continue;
      }
      if (res.status !== 200) throw new SignetError('TLOG', `HTTP ${res.status}: ${text.trim().split('\n')[0] ?? ''}`);
      const lines = text.split(/(?<=\n)/).filter((l) => l.startsWith('\u2014 '));
      // Only lines that verify under the configured key are published: a witness cannot inject others.
      const valid = lines.filter((l) => {
        try {
          return verifyCosignatures(cp.note + l, [w.cosigner]).length === 1;
        } catch {
          return false;
        }
      });
      if (valid.length === 0) throw new SignetError('TLOG', 'its answer carries no valid cosignature by its configured key');
      this.#held.set(w, cp.size);
      return valid[0]!;
    }
    throw new SignetError('TLOG', 'its held size kept changing');
  }

  #warnOnce(w: WitnessEndpoint, line: string): void {
    const now = Date.now();
    if ((this.#lastWarned.get(w) ?? 0) + 60_000 > now) return;
    this.#lastWarned.set(w, now);
    this.#warn(line);
  }
}
