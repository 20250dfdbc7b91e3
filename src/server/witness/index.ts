/**
 * A C2SP tlog-witness (c2sp.org/tlog-witness): `POST /add-checkpoint` takes a log's new checkpoint with
 * a consistency proof from the last checkpoint this witness cosigned for that log, and answers with a
 * cosignature/v1 line. It refuses what would make it vouch for a fork or a rollback:
 *   400 malformed body or an old size above the checkpoint's   403 no trusted log signature
 *   404 unknown origin                                           409 old size is not the size it holds
 *                                                                    (body: that size), or same size
 *                                                                    with another root
 *   422 the consistency proof does not verify
 * Per log the witness keeps one record, the latest cosigned checkpoint, in a file replaced atomically
 * (fsync + rename) before it answers. Check-and-store runs under a per-log lock, so two racing requests
 * can never roll the record back (the race the spec describes).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { isSignetError, SignetError } from '../../errors.js';
import { readTextIfExists, writeFileAtomic } from '../../fsutil.js';
import { parseCheckpoint } from '../../tlog/checkpoint.js';
import { cosignatureLine, cosignerVkey, ed25519FromRaw, parseVkey } from '../../tlog/cosignature.js';
import { hashEquals } from '../../tlog/hash.js';
import { decodeBase64Strict, openNote, type NoteVerifier } from '../../tlog/note.js';
import { verifyConsistency } from '../../tlog/proof.js';
import type { ServiceRoute, ServiceResponse } from '../routes.js';

export const ADD_CHECKPOINT_PATH = '/add-checkpoint';
/** The spec caps proofs at 63 lines; the body is a few of those plus a checkpoint with its signatures. */
export const MAX_REQUEST_BYTES = 64 * 1024;
const MAX_PROOF_LINES = 63;

export interface WitnessedLog {
  /** The checkpoint origin line that names the log. */
  origin: string;
  /** The log's note keys (name + public key); a checkpoint must carry a valid signature by one. */
  verifiers: NoteVerifier[];
}

export interface WitnessOptions {
  /** The witness's key name, e.g. `witness.example.com/w1`. */
  name: string;
  /** Its Ed25519 private key. */
  key: KeyObject;
  logs: WitnessedLog[];
  /** Where the latest cosigned checkpoint of each log is kept. */
  dataDir: string;
  /** POSIX seconds; tests pin it. */
  now?: () => number;
}

interface Record {
  origin: string;
  size: number;
  rootHash: string;
  /** The checkpoint note as cosigned, kept as evidence. */
  note: string;
}

const text = (status: number, body: string, contentType = 'text/plain; charset=utf-8'): ServiceResponse => ({
  status,
  headers: { 'content-type': contentType },
  body,
});

export class Witness {
  readonly name: string;
  readonly vkey: string;
  readonly #key: KeyObject;
  readonly #logs: Map<string, WitnessedLog>;
  readonly #dir: string;
  readonly #now: () => number;
  /** Per-origin tail of the lock chain: each request for a log runs after the previous one settled. */
  readonly #locks = new Map<string, Promise<unknown>>();

  private constructor(opts: WitnessOptions) {
    this.name = opts.name;
    this.vkey = cosignerVkey(opts.name, opts.key);
    this.#key = opts.key;
    this.#logs = new Map(opts.logs.map((l) => [l.origin, l]));
    this.#dir = join(opts.dataDir, 'witness');
    this.#now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  }

  static async open(opts: WitnessOptions): Promise<Witness> {
    if (opts.key.type !== 'private' || opts.key.asymmetricKeyType !== 'ed25519') {
      throw new SignetError('KEY_UNSUPPORTED', 'a witness key must be an Ed25519 private key (signet generate-key-pair --kind ed25519)');
    }
    if (opts.logs.length === 0) throw new SignetError('USAGE', 'the witness has no logs to witness');
    const w = new Witness(opts);
    await fs.mkdir(w.#dir, { recursive: true, mode: 0o700 }).catch((e) => {
      throw new SignetError('IO', `cannot create ${w.#dir}: ${(e as Error).message}`, { cause: e });
    });
    return w;
  }

  routes(): ServiceRoute[] {
    return [{ method: 'POST', path: ADD_CHECKPOINT_PATH, handle: (req) => this.addCheckpoint(req.body) }];
  }

  /** The latest checkpoint cosigned for `origin`, if any. */
  async latest(origin: string): Promise<{ size: number; rootHash: Buffer; note: string } | undefined> {
    const r = await this.#read(origin);
    return r && { size: r.size, rootHash: Buffer.from(r.rootHash, 'base64'), note: r.note };
  }

  async addCheckpoint(body: Buffer): Promise<ServiceResponse> {
    if (body.length > MAX_REQUEST_BYTES) return text(413, `request body is larger than ${MAX_REQUEST_BYTES} bytes\n`);
    let req: ReturnType<typeof parseRequest>;
    try {
      req = parseRequest(body);
    } catch (e) {
      return text(400, `${(e as Error).message}\n`);
    }
    let checkpoint: ReturnType<typeof parseCheckpoint>;
    try {
      checkpoint = parseCheckpoint(noteText(req.note));
    } catch (e) {
      return text(400, `${(e as Error).message}\n`);
    }
    const log = this.#logs.get(checkpoint.origin);
    if (!log) return text(404, `unknown log origin ${JSON.stringify(checkpoint.origin)}\n`);
    try {
      openNote(req.note, log.verifiers);
    } catch (e) {
      return text(isSignetError(e, 'MALFORMED') ? 400 : 403, `${(e as Error).message}\n`);
    }
    if (req.oldSize > checkpoint.size) return text(400, `old size ${req.oldSize} is larger than the checkpoint's size ${checkpoint.size}\n`);
    if (req.oldSize === 0 && req.proof.length > 0) return text(400, 'a consistency proof from size 0 must be empty\n');
    return this.#locked(checkpoint.origin, () => this.#check(req, checkpoint, log));
  }

  async #check(req: Request, cp: ReturnType<typeof parseCheckpoint>, log: WitnessedLog): Promise<ServiceResponse> {
    const held = await this.#read(log.origin);
    const heldSize = held?.size ?? 0;
    if (req.oldSize !== heldSize) return text(409, `${heldSize}\n`, 'text/x.tlog.size');
    if (held && heldSize === cp.size && !hashEquals(Buffer.from(held.rootHash, 'base64'), cp.rootHash)) {
      return text(409, `${heldSize}\n`, 'text/x.tlog.size');
    }
    if (held && heldSize > 0) {
      try {
        verifyConsistency(heldSize, cp.size, req.proof, Buffer.from(held.rootHash, 'base64'), cp.rootHash);
      } catch (e) {
        return text(422, `${(e as Error).message}\n`);
      }
    }
    const record: Record = { origin: log.origin, size: cp.size, rootHash: Buffer.from(cp.rootHash).toString('base64'), note: req.note };
    await writeFileAtomic(this.#path(log.origin), JSON.stringify(record) + '\n', 0o600);
    return text(200, cosignatureLine(noteText(req.note), this.name, this.#key, this.#now()));
  }

  #path(origin: string): string {
    return join(this.#dir, `${createHash('sha256').update(origin).digest('hex')}.json`);
  }

  async #read(origin: string): Promise<Record | undefined> {
    const path = this.#path(origin);
    const raw = await readTextIfExists(path);
    if (raw === undefined) return undefined;
    let r: Record;
    try {
      r = JSON.parse(raw) as Record;
    } catch {
      throw new SignetError('STORAGE_CORRUPT', `witness state ${path} is not JSON`);
    }
    if (r.origin !== origin || !Number.isSafeInteger(r.size) || r.size < 0 || typeof r.rootHash !== 'string' || Buffer.from(r.rootHash, 'base64').length !== 32) {
      throw new SignetError('STORAGE_CORRUPT', `witness state ${path} is not a checkpoint record for ${JSON.stringify(origin)}`);
    }
    return r;
  }

  #locked<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(origin) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(origin, tail);
    void tail.then(() => {
      if (this.#locks.get(origin) === tail) this.#locks.delete(origin);
    });
    return run;
  }
}

interface Request {
  oldSize: number;
  proof: Buffer[];
  note: string;
}

/** The note's signed text: everything up to and including the line before the blank line. */
function noteText(note: string): string {
  const sep = note.lastIndexOf('\n\n');
  return sep < 0 ? note : note.slice(0, sep + 1);
}

function parseRequest(body: Buffer): Request {
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new SignetError('MALFORMED', 'request body is not UTF-8');
  }
  const first = s.indexOf('\n');
  const oldLine = first < 0 ? s : s.slice(0, first);
  const m = /^old (0|[1-9][0-9]*)$/.exec(oldLine);
  if (!m) throw new SignetError('MALFORMED', 'the first line must be "old <size>"');
  const oldSize = Number(m[1]);
  if (!Number.isSafeInteger(oldSize)) throw new SignetError('MALFORMED', 'old size is too large');
  const proof: Buffer[] = [];
  let pos = first + 1;
  for (;;) {
    const end = s.indexOf('\n', pos);
    if (end < 0) throw new SignetError('MALFORMED', 'no empty line before the checkpoint');
    const line = s.slice(pos, end);
    pos = end + 1;
    if (line === '') break;
    if (proof.length === MAX_PROOF_LINES) throw new SignetError('MALFORMED', `more than ${MAX_PROOF_LINES} consistency proof lines`);
    const h = decodeBase64Strict(line, `consistency proof line ${proof.length + 1}`);
    if (h.length !== 32) throw new SignetError('MALFORMED', `consistency proof line ${proof.length + 1} is not a 32-byte hash`);
    proof.push(h);
  }
  const note = s.slice(pos);
  if (note.length === 0) throw new SignetError('MALFORMED', 'no checkpoint after the empty line');
  return { oldSize, proof, note };
}

/** The body of an add-checkpoint request (the client side, used by `serve --witness` and tests). */
export function addCheckpointBody(oldSize: number, proof: readonly Uint8Array[], note: string): string {
  return `old ${oldSize}\n${proof.map((h) => Buffer.from(h).toString('base64') + '\n').join('')}\n${note}`;
}

/**
 * The logs a witness cosigns, from a JSON file:
 *   {"logs": [{"origin": "<checkpoint origin line>", "key": "<PEM public key or C2SP vkey>", "name": "<note key name>"}]}
 * `name` defaults to the vkey's name, else the origin up to " - " (a Rekor v1-style origin
 * "<host> - <tree ID>" is signed under "<host>"); `signet serve` prints its origin and key at start.
 */
export function parseWitnessedLogs(json: string, source: string): WitnessedLog[] {
  const bad = (why: string): never => {
    throw new SignetError('USAGE', `${source}: ${why}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    return bad(`not JSON (${(e as Error).message})`);
  }
  const list = (doc as { logs?: unknown } | null)?.logs;
  if (!Array.isArray(list) || list.length === 0) bad('expected {"logs": [{"origin": ..., "key": ...}, ...]} with at least one log');
  const seen = new Set<string>();
  return (list as unknown[]).map((item, i) => {
    const o = item as { origin?: unknown; key?: unknown; name?: unknown };
    if (typeof o?.origin !== 'string' || o.origin.length === 0 || /[\x00-\x1f]/.test(o.origin)) bad(`logs[${i}].origin must be a one-line string`);
    const origin = o.origin as string;
    if (seen.has(origin)) bad(`log origin ${JSON.stringify(origin)} is listed twice`);
    seen.add(origin);
    if (typeof o.key !== 'string' || o.key.length === 0) bad(`logs[${i}].key must be a PEM public key or a vkey`);
    if (o.name !== undefined && typeof o.name !== 'string') bad(`logs[${i}].name must be a string`);
    const key = o.key as string;
    try {
      if (key.includes('-----BEGIN')) {
        const name = (o.name as string | undefined) ?? origin.split(' - ')[0]!.trim();
        return { origin, verifiers: [{ name, publicKey: createPublicKey(key) }] };
      }
      const v = parseVkey(key);
      return { origin, verifiers: [{ name: (o.name as string | undefined) ?? v.name, publicKey: ed25519FromRaw(v.key), keyIds: [v.keyId] }] };
    } catch (e) {
      return bad(`logs[${i}].key: ${(e as Error).message}`);
    }
  });
}
