/**
 * Watching a transparency log from the client side: checkpoints verified against the trusted root (or,
 * without one, the log's own key trusted on first use), entries verified with their inclusion proof and
 * checkpoint, and each verified checkpoint compared with the one remembered from before, so a log that
 * forks its history for this client is caught. Remembered checkpoints live in
 * `$SIGNET_HOME/checkpoints/<log id>.json` (default `~/.signet`).
 */
import { createPublicKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SignetError } from '../errors.js';
import { ioError, writeFileAtomic } from '../fsutil.js';
import { sigstoreKeyDetails } from '../keys/index.js';
import { logIdFromPublicKey, verifyConsistency } from '../tlog/index.js';
import { v1EntryToBundleEntry, type RekorV1Client, type V1LogEntry, type V1LogInfo } from './rekor-client.js';
import { verifyCheckpointWithLog, verifyTlogEntryProofs, type VerifiedTlogEntry } from './tlog.js';
import type { TrustedLog, TrustedRoot } from './trustedroot.js';

export type VerifiedCheckpoint = ReturnType<typeof verifyCheckpointWithLog>;

/** A trusted root holding only the key the log serves itself: trust on first use (warn the user). */
export async function trustedRootFromLogKey(c: RekorV1Client): Promise<TrustedRoot> {
  const pem = await c.publicKey();
  let key;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new SignetError('MALFORMED', `${c.baseUrl} served a public key that does not parse`);
  }
  const spkiDer = key.export({ format: 'der', type: 'spki' });
  const keyDetails = sigstoreKeyDetails(key);
  const log: TrustedLog = { baseUrl: c.baseUrl, hashAlgorithm: 'sha256', publicKey: key, spkiDer, keyDetails, validFor: {}, logId: Buffer.from(logIdFromPublicKey(key), 'hex') };
  return { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [log], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };
}

/** A signed checkpoint verified with whichever log of the trusted root signed it. */
export function verifyCheckpointWithAnyLog(note: string, root: TrustedRoot): VerifiedCheckpoint {
  let last: unknown;
  for (const l of root.tlogs) {
    try {
      return verifyCheckpointWithLog(note, l);
    } catch (e) {
      last = e;
    }
  }
  throw last instanceof SignetError ? last : new SignetError('TLOG', 'the checkpoint is not signed by any log in the trusted root');
}

/** The log's signed tree head verified, and naming the tree size and root hash the log reports. */
export function verifyLogInfo(li: V1LogInfo, root: TrustedRoot): VerifiedCheckpoint {
  const cp = verifyCheckpointWithAnyLog(li.signedTreeHead, root);
  if (cp.size !== li.treeSize || Buffer.from(cp.rootHash).toString('hex') !== li.rootHash) {
    throw new SignetError('TLOG', 'the signed checkpoint does not match the tree size and root hash the log reports');
  }
  return cp;
}

export interface StoredCheckpoint {
  size: number;
  rootHash: string;
  checkpoint: string;
}

/** Where the last checkpoint seen of a log (by hex log ID) is remembered. */
export function checkpointPath(logIdHex: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(env.SIGNET_HOME || join(homedir(), '.signet'), 'checkpoints', `${logIdHex}.json`);
}

export async function readStoredCheckpoint(path: string): Promise<StoredCheckpoint | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(`stored checkpoint ${path}`, e);
  }
  try {
    const d = JSON.parse(text) as StoredCheckpoint;
    if (Number.isSafeInteger(d.size) && d.size >= 0 && typeof d.rootHash === 'string' && typeof d.checkpoint === 'string') return d;
  } catch {
    // reported below
  }
  throw new SignetError('MALFORMED', `stored checkpoint ${path} is corrupt; delete it to start over`);
}

/**
 * Compares the verified checkpoint with the one remembered for this log: the smaller must be a prefix
 * of the larger (a consistency proof from the log), then the larger is remembered. A log that forks its
 * history for us is caught here.
 */
export async function checkConsistency(
  c: RekorV1Client,
  log: TrustedLog,
  cp: VerifiedCheckpoint,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ previousSize?: number }> {
  const path = checkpointPath(log.logId.toString('hex'), env);
  const prev = await readStoredCheckpoint(path);
  const rootNow = Buffer.from(cp.rootHash);
  if (prev) {
    // Re-verify what we stored: a file on disk is not a signature.
    const stored = verifyCheckpointWithLog(prev.checkpoint, log);
    const rootPrev = Buffer.from(stored.rootHash);
    if (stored.size === cp.size) {
      if (!rootPrev.equals(rootNow)) throw new SignetError('TLOG', `the log shows two different trees of size ${cp.size}: it is inconsistent with the checkpoint seen before`);
    } else {
      const [small, large] = stored.size < cp.size ? [stored, cp] : [cp, stored];
      const proof = await c.consistencyProof(small.size, large.size);
      verifyConsistency(small.size, large.size, proof.hashes.map((h) => Buffer.from(h, 'hex')), small.rootHash, large.rootHash);
    }
    if (stored.size >= cp.size) return { previousSize: stored.size };
  }
  await fs.mkdir(join(path, '..'), { recursive: true }).catch((e: unknown) => {
    throw ioError(`checkpoint directory for ${path}`, e);
  });
  await writeFileAtomic(path, JSON.stringify({ size: cp.size, rootHash: rootNow.toString('hex'), checkpoint: cp.note }) + '\n');
  return prev ? { previousSize: prev.size } : {};
}

export interface LogEntryVerification {
  uuid: string;
  logIndex: number;
  /** The tree size of the checkpoint the inclusion proof leads to. */
  treeSize: number;
  rootHash: string;
  /** Which of the log's statements were verified. */
  verified: VerifiedTlogEntry['checked'];
  /** previousSize: the checkpoint remembered before, when there was one. */
  consistency: { previousSize?: number };
}

/** `log verify`: the entry's inclusion proof and checkpoint, then the log's consistency with the checkpoint seen before. */
export async function verifyLogEntry(c: RekorV1Client, e: V1LogEntry, root: TrustedRoot, env: NodeJS.ProcessEnv = process.env): Promise<LogEntryVerification> {
  const entry = v1EntryToBundleEntry(e);
  if (!entry.inclusionProof) throw new SignetError('TLOG', `entry ${e.uuid} came without an inclusion proof`);
  const result = verifyTlogEntryProofs(entry, root);
  const cp = verifyCheckpointWithLog(entry.inclusionProof.checkpoint!.envelope!, result.log);
  const consistency = await checkConsistency(c, result.log, cp, env);
  return { uuid: e.uuid, logIndex: e.logIndex, treeSize: cp.size, rootHash: Buffer.from(cp.rootHash).toString('hex'), verified: result.checked, consistency };
}
