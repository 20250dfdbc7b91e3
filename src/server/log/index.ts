/**
 * The transparency log service: one append-only tree (Rekor v1 and v2 entries alike), group-committed,
 * on embedded storage (files + SQLite, the default) or PostgreSQL (shared by several servers).
 */
import { type KeyObject, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { SignetError } from '../../errors.js';
import { perTurnBatcher } from '../../batching.js';
import { type LogStorage, TileLru, checkInclusionArgs, consistencyProofFromTiles, inclusionProofsFromTiles } from './common.js';
import { EmbeddedStorage } from './embedded.js';
import { Sequencer } from './sequencer.js';
import type { AppendRequest, AppendResult, LogMetrics, OpenLogOptions, SignedCheckpoint, StoredEntry, TransparencyLog } from './types.js';
import { CheckpointSigner } from './common.js';

export type * from './types.js';

export const LOG_KEY_FILE = 'log.key';

function checkSigningKey(key: KeyObject): void {
  if (key.type !== 'private') throw new SignetError('KEY_FORMAT', 'the log signing key must be a private key');
  const t = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (t === 'ed25519') return;
  if (t === 'ec' && (curve === 'prime256v1' || curve === 'secp384r1' || curve === 'secp521r1')) return;
  throw new SignetError('KEY_UNSUPPORTED', `the log signing key must be ECDSA (P-256, P-384, P-521) or Ed25519, got ${t ?? 'unknown'}${curve ? ` ${curve}` : ''}`);
}

/**
 * Loads <dataDir>/log.key, or creates an ECDSA P-256 key there on first start. The key is stored as
 * unencrypted PKCS#8 PEM (mode 0600) because the server must start unattended. Creation publishes the
 * file with link(), which fails if another process created it first — then that key is used.
 */
export async function loadOrCreateLogKey(dataDir: string): Promise<KeyObject> {
  const path = join(dataDir, LOG_KEY_FILE);
  const read = async (): Promise<KeyObject | null> => {
    let pem: string;
    try {
      pem = await fs.readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new SignetError('IO', `cannot read the log key ${path}: ${(e as Error).message}`, { cause: e });
    }
    try {
      return createPrivateKey(pem);
    } catch (e) {
      throw new SignetError('KEY_FORMAT', `${path} is not an unencrypted PEM private key`, { cause: e });
    }
  };
  const existing = await read();
  if (existing) return existing;
  try {
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new SignetError('IO', `cannot create the data directory ${dataDir}: ${(e as Error).message}`, { cause: e });
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const tmp = join(dataDir, `.${LOG_KEY_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(pem);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fs.link(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  } catch (e) {
    throw new SignetError('IO', `cannot write the log key ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    await fs.rm(tmp, { force: true });
  }
  const key = await read();
  if (!key) throw new SignetError('IO', `the log key ${path} vanished while it was being created`);
  return key;
}

/** The log over one storage (openLog picks and opens the storage); exported for tests that watch what it asks its storage. */
export class Log implements TransparencyLog {
  readonly origin: string;
  readonly treeId: bigint;
  readonly publicKey: KeyObject;
  readonly logId: Buffer;
  readonly signingKey: KeyObject;
  readonly #storage: LogStorage;
  readonly #signer: CheckpointSigner;
  readonly #sequencer: Sequencer;
  readonly #cache = new TileLru();
  /** Inclusion proofs asked for in one turn of the event loop, computed together per tree size. */
  readonly #proofs = perTurnBatcher<{ index: number; treeSize: number; currentSize: number }, Buffer[]>(
    (asks) =>
      inclusionProofsFromTiles(
        asks.map((a) => a.index),
        asks[0]!.treeSize,
        Math.max(...asks.map((a) => a.currentSize)),
        this.#cache,
        (t) => this.#storage.readTiles(t),
      ),
    { key: (a) => a.treeSize },
  );

  constructor(storage: LogStorage, signer: CheckpointSigner, maxBatch?: number) {
    this.#storage = storage;
    this.#signer = signer;
    this.origin = storage.origin;
    this.treeId = storage.treeId;
    this.publicKey = signer.publicKey;
    this.logId = signer.logId;
    this.signingKey = signer.key;
    this.#sequencer = new Sequencer(storage, maxBatch);
  }

  append(req: AppendRequest): Promise<AppendResult> {
    return this.#sequencer.append(req);
  }

  async checkpoint(): Promise<SignedCheckpoint> {
    const cp = await this.#storage.checkpoint();
    this.#sequencer.noteSize(cp.size);
    return cp;
  }

  entryByIndex(index: number): Promise<StoredEntry | null> {
    return this.#storage.entryByIndex(index);
  }

  entryByLeafHash(leafHash: Buffer): Promise<StoredEntry | null> {
    return this.#storage.entryByLeafHash(leafHash);
  }

  async search(key: string): Promise<number[]> {
    if (typeof key !== 'string' || key.length === 0) throw new SignetError('USAGE', 'a search key must be a non-empty string');
    return this.#storage.search(key);
  }

  /**
   * Proofs asked for in the same turn of the event loop against the same tree size are computed together
   * (inclusionProofsFromTiles): a committed write batch answers all its waiters against one checkpoint.
   */
  async inclusionProof(index: number, treeSize: number): Promise<Buffer[]> {
    const size = await this.#sizeCovering(treeSize);
    // A bad request fails alone, before it joins a batch.
    checkInclusionArgs(index, treeSize, size);
    return this.#proofs({ index, treeSize, currentSize: size });
  }

  async consistencyProof(size1: number, size2: number): Promise<Buffer[]> {
    const size = await this.#sizeCovering(size2);
    return consistencyProofFromTiles(size1, size2, size, this.#cache, (t) => this.#storage.readTiles(t));
  }

  /**
   * A size the log has reached, at least `treeSize` when the log is that large. The log never shrinks, so
   * a size this process has already seen committed (a write batch's checkpoint, or one read) needs no
   * fresh read of the checkpoint: with PostgreSQL that read is a query, which every written entry's
   * proof paid (a third of a write's CPU on the server).
   */
  async #sizeCovering(treeSize: number): Promise<number> {
    const known = this.#sequencer.knownSize;
    if (Number.isSafeInteger(treeSize) && treeSize <= known) return known;
    return (await this.checkpoint()).size;
  }

  tile(level: number, index: number, width?: number): Promise<Buffer | null> {
    return this.#storage.tile(level, index, width);
  }

  entryBundle(index: number, width?: number): Promise<Buffer | null> {
    return this.#storage.entryBundle(index, width);
  }

  sign(data: Buffer): Buffer {
    return this.#signer.signBytes(data);
  }

  keepSet(e: StoredEntry, sig: Uint8Array): void {
    this.#storage.keepSet?.(e, sig);
  }

  storedSet(e: StoredEntry): Uint8Array | undefined {
    return this.#storage.storedSet?.(e);
  }

  metrics(): LogMetrics {
    const m: LogMetrics = this.#sequencer.metrics();
    const tiles = this.#storage.tileCache?.();
    if (tiles) m.tileCache = tiles;
    const shared = this.#storage.sharedWrites?.();
    if (shared) m.sharedWrites = shared;
    return m;
  }

  async close(): Promise<void> {
    await this.#sequencer.close();
    await this.#storage.close();
  }
}

function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

export async function openLog(opts: OpenLogOptions): Promise<TransparencyLog> {
  if (!opts.dataDir) throw new SignetError('USAGE', 'the log needs a data directory');
  const storageKind = opts.storage ?? 'embedded';
  if (storageKind !== 'embedded' && !isPostgresUrl(storageKind)) {
    throw new SignetError('USAGE', `unknown log storage ${JSON.stringify(storageKind.replace(/\/\/[^@/]*@/, '//***@'))}: use "embedded" or a postgres:// URL`);
  }
  if (opts.cachedTiles !== undefined && (!Number.isSafeInteger(opts.cachedTiles) || opts.cachedTiles < 1)) {
    throw new SignetError('USAGE', `the tile cache must hold at least one tile, got ${String(opts.cachedTiles)}`);
  }
  const key = opts.signingKey ?? (await loadOrCreateLogKey(opts.dataDir));
  checkSigningKey(key);
  let storage: LogStorage;
  if (storageKind === 'embedded') {
    storage = await EmbeddedStorage.open(opts.dataDir, key, opts.origin, opts.defaultOrigin, opts);
  } else {
    // Its tiles are rows, read through the proofs' cache of expanded tiles: a budget for files would do nothing.
    if (opts.cachedTiles !== undefined) throw new SignetError('USAGE', 'the tile cache is a setting of the embedded storage; a PostgreSQL log has none');
    const { PostgresStorage } = await import('./postgres.js');
    storage = await PostgresStorage.open(storageKind, key, opts.origin, opts.defaultOrigin);
  }
  const signer = new CheckpointSigner(storage.origin, key);
  const log = new Log(storage, signer, opts.maxBatch);
  await log.checkpoint();
  return log;
}
