/**
 * `signet log …`: talk to a Rekor-compatible transparency log (info, get, search, verify), and the
 * log flags `sign`/`sign-blob` share (`--rekor-url`, `--signing-config`).
 */
import { createPublicKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { SignetError } from '../../errors.js';
import { sigstoreKeyDetails } from '../../keys/index.js';
import { FILE_LIMITS, ioError, readFileLimited, writeFileAtomic } from '../../fsutil.js';
import { RekorV1Client, tlogFromSigningConfig, v1EntryToBundleEntry, type TlogTarget, type V1LogEntry } from '../../sigstore/rekor-client.js';
import { verifyCheckpointWithLog, verifyTlogEntryProofs } from '../../sigstore/tlog.js';
import { loadTrustedRoot, type TrustedLog, type TrustedRoot } from '../../sigstore/trustedroot.js';
import { logIdFromPublicKey, verifyConsistency } from '../../tlog/index.js';
import { examples, opt, ui } from '../common.js';

export const TLOG_VERIFIED_LINE = 'Existence of the claims in the transparency log was verified offline';

export interface TlogSignFlags {
  tlogUpload: boolean;
  rekorUrl?: string;
  signingConfig?: string;
}

export function addTlogSignOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--rekor-url <url>', 'Rekor v1 API of the transparency log to upload to'))
    .addOption(opt('--signing-config <file>', 'signing_config.json naming the transparency log (rekorTlogUrls, API version 1 or 2)'));
}

/** Where to log signatures, or undefined with --tlog-upload=false. */
export async function tlogTarget(flags: TlogSignFlags): Promise<TlogTarget | undefined> {
  if (!flags.tlogUpload) return undefined;
  if (flags.rekorUrl && flags.signingConfig) throw new SignetError('USAGE', '--rekor-url and --signing-config cannot be used together');
  if (flags.signingConfig) {
    const bytes = await readFileLimited(flags.signingConfig, 4 * 1024 * 1024, `signing config ${flags.signingConfig}`);
    try {
      return tlogFromSigningConfig(bytes);
    } catch (e) {
      if (e instanceof SignetError) throw new SignetError(e.code, `${flags.signingConfig}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  if (flags.rekorUrl) {
    new RekorV1Client({ baseUrl: flags.rekorUrl }); // validates the URL before anything is signed
    return { url: flags.rekorUrl, majorApiVersion: 1 };
  }
  throw new SignetError(
    'USAGE',
    'no transparency log is configured: pass --tlog-upload=false to sign without one (the signature will not be publicly auditable), or --rekor-url / --signing-config to log it',
  );
}

interface LogFlags {
  rekorUrl?: string;
  trustedRoot?: string;
  output: string;
}

function client(flags: LogFlags): RekorV1Client {
  if (!flags.rekorUrl) throw new SignetError('USAGE', 'pass --rekor-url (or set COSIGN_REKOR_URL)');
  return new RekorV1Client({ baseUrl: flags.rekorUrl });
}

function checkOutput(flags: LogFlags): void {
  if (flags.output !== 'json' && flags.output !== 'text') throw new SignetError('USAGE', `unknown output format "${flags.output}" (json or text)`);
}

function parseIndex(v: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(v) || !Number.isSafeInteger(Number(v))) throw new SignetError('USAGE', `--log-index must be a non-negative integer, got "${v}"`);
  return Number(v);
}

async function fetchEntry(c: RekorV1Client, flags: { uuid?: string; logIndex?: string }): Promise<V1LogEntry> {
  if ((flags.uuid === undefined) === (flags.logIndex === undefined)) throw new SignetError('USAGE', 'pass exactly one of --uuid and --log-index');
  return flags.uuid !== undefined ? c.getByUuid(flags.uuid) : c.getByIndex(parseIndex(flags.logIndex!));
}

/** The trusted root, or (without one) the log's own key, trusted on first use, with a warning. */
async function trustFor(flags: LogFlags, c: RekorV1Client): Promise<TrustedRoot> {
  if (flags.trustedRoot) return loadTrustedRoot(flags.trustedRoot);
  ui.warn(`no --trusted-root given: trusting the public key that ${c.baseUrl} serves itself`);
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

function printEntry(e: V1LogEntry, flags: LogFlags, verified?: string[]): void {
  if (flags.output === 'json') {
    const { uuid, ...rest } = e;
    ui.out(JSON.stringify({ [uuid]: rest, ...(verified ? { verified } : {}) }, null, 2) + '\n');
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(e.body, 'base64').toString('utf8'));
  } catch {
    body = e.body;
  }
  ui.out(
    [
      `UUID: ${e.uuid}`,
      `LogID: ${e.logID}`,
      `Index: ${e.logIndex}`,
      `IntegratedTime: ${new Date(e.integratedTime * 1000).toISOString()}`,
      ...(verified ? [`Verified: ${verified.join(', ')}`] : []),
      `Body: ${JSON.stringify(body, null, 2)}`,
    ].join('\n') + '\n',
  );
}

interface StoredCheckpoint {
  size: number;
  rootHash: string;
  checkpoint: string;
}

function checkpointPath(logIdHex: string): string {
  return join(process.env.SIGNET_HOME || join(homedir(), '.signet'), 'checkpoints', `${logIdHex}.json`);
}

async function readStoredCheckpoint(path: string): Promise<StoredCheckpoint | undefined> {
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

export function registerLogCommands(program: Command): void {
  const log = program.command('log').description('look up and verify entries in a Rekor-compatible transparency log');
  const common = (cmd: Command, withRoot = false): Command => {
    cmd.addOption(opt('--rekor-url <url>', 'base URL of the transparency log')).addOption(opt('-o, --output <format>', 'output format: json or text', 'text'));
    if (withRoot) cmd.addOption(opt('--trusted-root <file>', 'trusted_root.json holding the log key'));
    return cmd;
  };

  const info = common(log.command('info').description('show the log\'s size, root hash and signed checkpoint'), true);
  examples(info, ['signet log info --rekor-url http://127.0.0.1:3000', 'signet log info --rekor-url http://127.0.0.1:3000 --trusted-root trusted_root.json -o json']);
  info.action(async (flags: LogFlags) => {
    checkOutput(flags);
    const c = client(flags);
    const li = await c.logInfo();
    let verified = false;
    if (flags.trustedRoot) {
      const root = await loadTrustedRoot(flags.trustedRoot);
      const cp = verifyWithAnyLog(li.signedTreeHead, root);
      if (cp.size !== li.treeSize || Buffer.from(cp.rootHash).toString('hex') !== li.rootHash) {
        throw new SignetError('TLOG', 'the signed checkpoint does not match the tree size and root hash the log reports');
      }
      verified = true;
    }
    if (flags.output === 'json') ui.out(JSON.stringify({ ...li, ...(flags.trustedRoot ? { verified } : {}) }, null, 2) + '\n');
    else ui.out(`Tree ID: ${li.treeID}\nTree size: ${li.treeSize}\nRoot hash: ${li.rootHash}\n${verified ? 'Checkpoint signature: verified\n' : ''}Signed tree head:\n${li.signedTreeHead}`);
  });

  const get = common(log.command('get').description('fetch one entry by UUID or log index (verified when --trusted-root is given)'), true)
    .option('--uuid <id>', 'entry UUID (64 hex) or entry ID (80 hex)')
    .option('--log-index <n>', 'entry index in the log');
  examples(get, ['signet log get --rekor-url http://127.0.0.1:3000 --log-index 0', 'signet log get --rekor-url http://127.0.0.1:3000 --uuid <uuid> --trusted-root trusted_root.json -o json']);
  get.action(async (flags: LogFlags & { uuid?: string; logIndex?: string }) => {
    checkOutput(flags);
    const c = client(flags);
    const e = await fetchEntry(c, flags);
    let verified: string[] | undefined;
    if (flags.trustedRoot) verified = verifyTlogEntryProofs(v1EntryToBundleEntry(e), await loadTrustedRoot(flags.trustedRoot)).checked;
    printEntry(e, flags, verified);
  });

  const search = common(log.command('search').description('find entries by artifact digest, public key or email'))
    .option('--sha <digest>', 'artifact digest, sha256:<hex>')
    .option('--public-key <file>', 'PEM public key or certificate file')
    .option('--email <address>', 'email address in a signing certificate');
  examples(search, ['signet log search --rekor-url http://127.0.0.1:3000 --sha sha256:<hex>', 'signet log search --rekor-url http://127.0.0.1:3000 --public-key cosign.pub -o json']);
  search.action(async (flags: LogFlags & { sha?: string; publicKey?: string; email?: string }) => {
    checkOutput(flags);
    if (flags.sha !== undefined && !/^(sha256:)?[0-9a-fA-F]{64}$|^sha512:[0-9a-fA-F]{128}$/.test(flags.sha)) throw new SignetError('USAGE', `--sha must be sha256:<64 hex digits>, got "${flags.sha}"`);
    let publicKeyPem: string | undefined;
    if (flags.publicKey !== undefined) {
      publicKeyPem = (await readFileLimited(flags.publicKey, FILE_LIMITS.small, `public key ${flags.publicKey}`)).toString('utf8');
      if (!publicKeyPem.includes('-----BEGIN')) throw new SignetError('KEY_FORMAT', `${flags.publicKey} is not a PEM file`);
    }
    const uuids = await client(flags).searchIndex({ hash: flags.sha, publicKeyPem, email: flags.email });
    ui.out(flags.output === 'json' ? JSON.stringify(uuids) + '\n' : uuids.map((u) => u + '\n').join(''));
    if (uuids.length === 0) ui.info('no matching entries');
  });

  const verify = common(log.command('verify').description('verify an entry\'s inclusion proof and checkpoint, and the log\'s consistency with the last checkpoint seen'), true)
    .option('--uuid <id>', 'entry UUID (64 hex) or entry ID (80 hex)')
    .option('--log-index <n>', 'entry index in the log');
  examples(verify, [
    'signet log verify --rekor-url http://127.0.0.1:3000 --trusted-root trusted_root.json --log-index 0',
    'signet log verify --rekor-url http://127.0.0.1:3000 --trusted-root trusted_root.json --uuid <uuid> -o json',
  ]);
  verify.action(async (flags: LogFlags & { uuid?: string; logIndex?: string }) => {
    checkOutput(flags);
    const c = client(flags);
    const e = await fetchEntry(c, flags);
    const root = await trustFor(flags, c);
    const entry = v1EntryToBundleEntry(e);
    if (!entry.inclusionProof) throw new SignetError('TLOG', `entry ${e.uuid} came without an inclusion proof`);
    const result = verifyTlogEntryProofs(entry, root);
    const cp = verifyCheckpointWithLog(entry.inclusionProof.checkpoint!.envelope!, result.log);
    const consistency = await checkConsistency(c, result.log, cp);
    const out = { uuid: e.uuid, logIndex: e.logIndex, treeSize: cp.size, rootHash: Buffer.from(cp.rootHash).toString('hex'), verified: result.checked, consistency };
    if (flags.output === 'json') ui.out(JSON.stringify(out, null, 2) + '\n');
    else {
      ui.out(`Entry ${e.uuid} (index ${e.logIndex}) is in the log at tree size ${cp.size}: ${result.checked.join(' and ')} verified.\n`);
      ui.out(consistency.previousSize === undefined ? 'No earlier checkpoint of this log was seen; this one is now remembered.\n' : `The log is consistent with the checkpoint seen before (tree size ${consistency.previousSize}).\n`);
    }
  });
}

function verifyWithAnyLog(note: string, root: TrustedRoot): ReturnType<typeof verifyCheckpointWithLog> {
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

/**
 * Compares the verified checkpoint with the one remembered for this log: the smaller must be a prefix
 * of the larger (a consistency proof from the log), then the larger is remembered. A log that forks its
 * history for us is caught here.
 */
async function checkConsistency(c: RekorV1Client, log: TrustedLog, cp: ReturnType<typeof verifyCheckpointWithLog>): Promise<{ previousSize?: number }> {
  const path = checkpointPath(log.logId.toString('hex'));
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
