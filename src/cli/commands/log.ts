/**
 * `signet log …`: talk to a Rekor-compatible transparency log (info, get, search, verify), check the
 * files of a `signet serve` log (fsck), and the log flags `sign`/`sign-blob` share (`--rekor-url`,
 * `--signing-config`).
 */
import { createPublicKey } from 'node:crypto';
import { Option, type Command } from 'commander';
import { SignetError } from '../../errors.js';
import { FILE_LIMITS, readFileLimited } from '../../fsutil.js';
import { RekorV1Client, v1EntryToBundleEntry, type V1LogEntry } from '../../sigstore/rekor-client.js';
import type { TlogTargetOptions } from '../../sigstore/tlog-target.js';
import { trustedRootFromLogKey, verifyLogEntry, verifyLogInfo } from '../../sigstore/log-monitor.js';
import { verifyTlogEntryProofs } from '../../sigstore/tlog.js';
import { loadTrustedRoot, type TrustedRoot } from '../../sigstore/trustedroot.js';
import { examples, opt, ui } from '../common.js';
import { registerImport } from './log-import.js';

export const TLOG_VERIFIED_LINE = 'Existence of the claims in the transparency log was verified offline';

export type TlogSignFlags = TlogTargetOptions;

export function addTlogSignOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--rekor-url <url>', 'Rekor v1 API of the transparency log to upload to'))
    .addOption(opt('--signing-config <file>', 'signing_config.json naming the transparency log (rekorTlogUrls, API version 1 or 2)'));
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
  return trustedRootFromLogKey(c);
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

export function registerLogCommands(program: Command): void {
  const log = program.command('log').description('look up and verify entries in a Rekor-compatible transparency log, or check a signet serve log\'s files');
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
      verifyLogInfo(li, await loadTrustedRoot(flags.trustedRoot));
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
  registerFsck(log);
  registerImport(log);
  verify.action(async (flags: LogFlags & { uuid?: string; logIndex?: string }) => {
    checkOutput(flags);
    const c = client(flags);
    const e = await fetchEntry(c, flags);
    const root = await trustFor(flags, c);
    const out = await verifyLogEntry(c, e, root);
    const { consistency } = out;
    if (flags.output === 'json') ui.out(JSON.stringify(out, null, 2) + '\n');
    else {
      ui.out(`Entry ${e.uuid} (index ${e.logIndex}) is in the log at tree size ${out.treeSize}: ${out.verified.join(' and ')} verified.\n`);
      ui.out(consistency.previousSize === undefined ? 'No earlier checkpoint of this log was seen; this one is now remembered.\n' : `The log is consistent with the checkpoint seen before (tree size ${consistency.previousSize}).\n`);
    }
  });
}

/** `log fsck`: every tile and entry bundle of an embedded log against its tree and signed checkpoint. */
function registerFsck(log: Command): void {
  const fsck = log
    .command('fsck')
    .description('check every tile and entry bundle of a signet serve log (embedded storage) against its tree and signed checkpoint; read-only, the server stopped')
    .addOption(new Option('--data-dir <dir>', 'the data directory the server ran with (signet serve --data-dir)').env('SIGNET_DATA_DIR'))
    .addOption(opt('--public-key <file>', 'PEM public key of the log, to check the checkpoint signature (default: the key in DIR/log.key)'))
    .addOption(opt('-o, --output <format>', 'output format: json or text', 'text'));
  examples(fsck, ['signet log fsck --data-dir /var/lib/signet', 'signet log fsck --data-dir /var/lib/signet --public-key log.pub -o json']);
  fsck.action(async (flags: { dataDir?: string; publicKey?: string; output: string }) => {
    checkOutput({ output: flags.output });
    if (!flags.dataDir) throw new SignetError('USAGE', 'log fsck needs --data-dir DIR');
    let publicKey;
    if (flags.publicKey !== undefined) {
      const pem = (await readFileLimited(flags.publicKey, FILE_LIMITS.small, `public key ${flags.publicKey}`)).toString('utf8');
      try {
        publicKey = createPublicKey(pem);
      } catch {
        throw new SignetError('KEY_FORMAT', `${flags.publicKey} is not a PEM public key`);
      }
    }
    const { fsckLog } = await import('../../server/log/fsck.js');
    let last = performance.now();
    const report = await fsckLog(flags.dataDir, {
      ...(publicKey ? { publicKey } : {}),
      progress: (done, total) => {
        if (performance.now() - last < 1000 || done === total) return;
        last = performance.now();
        ui.info(`fsck: checked ${done} of ${total} files`);
      },
    });
    const ok = report.problems.length === 0;
    if (flags.output === 'json') ui.out(JSON.stringify({ ok, ...report }, null, 2) + '\n');
    else {
      ui.out(
        `Checked ${report.files} tiles and entry bundles (${report.entries} entries) of the log in ${report.dataDir}: tree size ${report.treeSize}, root ${report.rootHash}.\n` +
          `Checkpoint signature: ${report.checkpointSignature}.\n` +
          (report.pendingRewrite > 0 ? `${report.pendingRewrite} files were checked as the copies the server rewrites on its next start.\n` : '') +
          report.problems.map((p) => `PROBLEM ${p.file}: ${p.problem}\n`).join('') +
          (ok ? 'OK: every file matches the tree and the signed checkpoint.\n' : ''),
      );
    }
    if (!ok) throw new SignetError('STORAGE_CORRUPT', `${report.problems.length} problem(s) in the log in ${report.dataDir}; restore the files named from a backup`);
  });
}

