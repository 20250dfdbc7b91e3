/**
 * The transparency log service as the HTTP layer sees it: one append-only tree serving both the Rekor v1
 * and v2 APIs, storage-independent. Implementations: embedded (files + SQLite) and PostgreSQL.
 */
import type { KeyObject } from 'node:crypto';
import type { SearchIndexOptions } from './search-index.js';

export interface SignedCheckpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  /** the whole signed note text */
  note: string;
}

export interface StoredEntry {
  index: number;
  leafHash: Buffer;
  /** the leaf bytes exactly as logged */
  body: Buffer;
  /** unix seconds when integrated */
  integratedTime: number;
}

export interface AppendRequest {
  body: Buffer;
  /** lowercased search keys, e.g. "sha256:<hex>", hex sha256 of a public key, an email */
  indexKeys: string[];
}

export type AppendResult =
  | { status: 'created'; entry: StoredEntry; checkpoint: SignedCheckpoint }
  | { status: 'duplicate'; entry: StoredEntry };

export interface LogMetrics {
  size: number;
  appends: number;
  duplicates: number;
  batches: number;
  lastBatchSize: number;
  lastBatchMs: number;
  /** Embedded storage: its cache of checked full tiles (serve --tile-cache), reads since start. */
  tileCache?: TileCacheMetrics;
  /** PostgreSQL storage: how its batch writes fared against other servers sharing the log, since start. */
  sharedWrites?: SharedWriteMetrics;
}

export interface SharedWriteMetrics {
  /** Batch writes that found the log moved on by another server, and were integrated again. */
  lost: number;
  /** Batches written under the state row's lock, as they are after a lost write until no other server writes in between. */
  locked: number;
}

export interface TileCacheMetrics {
  tiles: number;
  capacity: number;
  /** Full tiles found in memory, and read from their files. */
  hits: number;
  misses: number;
}

export interface TransparencyLog {
  readonly origin: string;
  readonly treeId: bigint;
  readonly publicKey: KeyObject;
  /** SHA-256 of the DER SPKI (Rekor v1 logID; also the C2SP key hash for ECDSA keys) */
  readonly logId: Buffer;
  /** Group commit: resolves once the entry is durable and covered by a signed checkpoint. */
  append(req: AppendRequest): Promise<AppendResult>;
  /** Latest signed checkpoint (for an empty log: size 0, signed). */
  checkpoint(): Promise<SignedCheckpoint>;
  entryByIndex(index: number): Promise<StoredEntry | null>;
  entryByLeafHash(leafHash: Buffer): Promise<StoredEntry | null>;
  /** Indices for one lowercased key, ascending. */
  search(key: string): Promise<number[]>;
  inclusionProof(index: number, treeSize: number): Promise<Buffer[]>;
  consistencyProof(size1: number, size2: number): Promise<Buffer[]>;
  /** C2SP tile bytes (full when width undefined); null when that tile does not exist (yet). */
  tile(level: number, index: number, width?: number): Promise<Buffer | null>;
  /** C2SP entry bundle bytes; null when it does not exist (yet). */
  entryBundle(index: number, width?: number): Promise<Buffer | null>;
  /** Sign arbitrary bytes with the log key (Rekor v1 SETs). */
  sign(data: Buffer): Buffer;
  /** Keeps the v1 SET signature of committed entry `e` for later reads, where the storage can. */
  keepSet(e: StoredEntry, sig: Uint8Array): void;
  /** The SET signature kept for entry `e`, checked (a changed or moved one is never returned). */
  storedSet(e: StoredEntry): Uint8Array | undefined;
  /** The log's private key, for signing helpers of this process (worker threads signing SETs). */
  readonly signingKey: KeyObject;
  metrics(): LogMetrics;
  close(): Promise<void>;
}

export interface OpenLogOptions {
  /** Data directory: embedded files + SQLite, and (for any storage) where the log key is kept when generated. */
  dataDir: string;
  /** undefined/'embedded' or a postgres:// (postgresql://) URL */
  storage?: string;
  /**
   * The log's signing key. When absent, an ECDSA P-256 key is created on first start and stored
   * unencrypted as PKCS#8 PEM in `<dataDir>/log.key` (mode 0600): the server must start unattended.
   */
  signingKey?: KeyObject;
  /**
   * Checkpoint origin, checked strictly: an existing log with another origin refuses to open. The note
   * signature name is the part before " - ".
   */
  origin?: string;
  /**
   * Origin for a log created now when `origin` is not given (a string, or built from the new tree ID);
   * an existing log keeps its stored origin. Default `signet-log - <treeId>`.
   */
  defaultOrigin?: string | ((treeId: bigint) => string);
  /** Largest group-commit batch (default 2048). */
  maxBatch?: number;
  /** Embedded storage: tuning of the search index's runs (search-index.ts), and a hook for tests. */
  searchIndex?: SearchIndexOptions;
  /**
   * Embedded storage: how many full tiles read from disk and checked against the tree stay in memory
   * (8 KiB each; default DEFAULT_CACHED_TILES, 192 MiB). Reads of them skip the file and its check.
   */
  cachedTiles?: number;
}
