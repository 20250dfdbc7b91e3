/**
 * `signet log …`: talk to a Rekor-compatible transparency log (info, get, search, verify), check the
 * files of a `signet serve` log (fsck), and the log flags `sign`/`sign-blob` share (`--rekor-url`,
 * `--signing-config`).
 */
import { Option, type Command } from 'commander';
import { SignetError } from '../../errors.js';
import { FILE_LIMITS, readFileLimited } from '../../fsutil.js';
import { RekorV1Client, v1EntryToBundleEntry, type V1LogEntry } from '../../sigstore/rekor-client.js';
import type { TlogTargetOptions } from '../../sigstore/tlog-target.js';
import { trustedRootFromLogKey, verifyLogEntry, verifyLogInfo } from '../../sigstore/log-monitor.js';
import { LogAlarm, loadMonitorConfig, monitorRound, type MonitorEvent } from '../../sigstore/log-watch.js';
import { deadlineSignal, parseDuration, sleep, withNetOptions } from '../../net.js';
import { verifyTlogEntryProofs } from '../../sigstore/tlog.js';
import { loadTrustedRoot, type TrustedRoot } from '../../sigstore/trustedroot.js';
import { boolOpt, envNameFor, examples, opt, ui } from '../common.js';
import { readLogPublicKey, registerImport } from './log-import.js';

export const TLOG_VERIFIED_LINE = 'Existence of the claims in the transparency log was verified offline';

export type TlogSignFlags = TlogTargetOptions;

export function addTlogSignOptions(cmd: Command): Command {
  return cmd
    .addOption(opt('--rekor-url <url>', 'Rekor v1 API of the transparency log to upload to'))
    .addOption(opt('--signing-config <file>', 'signing_config.json naming the transparency log (rekorTlogUrls, API version 1 or 2)'))
    .addOption(boolOpt('--use-signing-config', 'take the services from the signing config `initialize` cached from TUF; service URL flags then need --use-signing-config=false', true));
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
  registerMonitor(log);
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
    const publicKey = flags.publicKey === undefined ? undefined : await readLogPublicKey(flags.publicKey);
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


/** One line of text for a monitor event (`-o text`). */
function eventText(e: MonitorEvent | { type: 'error'; log: string; message: string }): string {
  switch (e.type) {
    case 'match': {
      const m = e.entry;
      const who = m.identity ? `${m.identity.subject ?? '?'} (issuer ${m.identity.issuer ?? '?'})` : `key ${m.fingerprint ?? '?'}`;
      return `MATCH index ${m.index} uuid ${m.uuid} ${m.kind} ${m.apiVersion} by ${who}${m.digest ? ` digest ${m.digest}` : ''}: ${m.matches.map((x) => `${x.type} ${x.rule}`).join(', ')}`;
    }
    case 'entry-unreadable':
      return `UNREADABLE index ${e.index} uuid ${e.uuid}: ${e.error}`;
    case 'checkpoint':
      return `OK tree size ${e.size}${e.previousSize !== undefined && e.previousSize !== e.size ? ` (was ${e.previousSize})` : ''}, root ${e.rootHash}, ${e.entriesRead} entries read, ${e.matches} matches`;
    case 'stale':
      return `STALE the log serves tree size ${e.size}, smaller than the stored ${e.storedSize}; state kept`;
    case 'alarm':
      return `ALARM ${e.reason}: ${e.message}`;
    case 'error':
      return `ERROR ${e.message}`;
  }
}

/** Failures a later round may not meet again (the log or the network); anything else stops the monitor. */
const TRANSIENT = new Set(['NETWORK', 'TIMEOUT', 'NOT_FOUND', 'TLOG', 'REGISTRY']);

/**
 * cosign has no monitor, so its flags read SIGNET_MONITOR_<FLAG> rather than COSIGN_<FLAG>: COSIGN_URL or
 * COSIGN_STATE would be too generic a name to claim.
 */
function monitorOpt(flags: string, description: string): Option {
  return new Option(flags, description).env(envNameFor(flags).replace(/^COSIGN_/, 'SIGNET_MONITOR_'));
}

/** `log monitor`: rekor-monitor's consistency check and identity watch (src/sigstore/log-watch.ts). */
function registerMonitor(log: Command): void {
  const mon = log
    .command('monitor')
    .description('watch a transparency log: prove each new checkpoint extends the last one (a fork or a bad signature is an alarm, exit 3) and report entries of watched identities and keys as JSON lines')
    .addOption(monitorOpt('--url <url>', 'base URL of the transparency log (its tiles under /api/v2/ when it serves them, else the Rekor v1 API)'))
    .addOption(opt('--trusted-root <file>', 'trusted_root.json holding the log key'))
    .addOption(monitorOpt('--state <file>', 'state file: the last verified checkpoint and the next entry to read (created by the first round)'))
    .addOption(monitorOpt('--from-index <n>', 'with a new state file: read entries from this index on (default: from the current checkpoint on)'))
    .addOption(monitorOpt('--interval <duration>', 'time between rounds (default 5m)'))
    .addOption(boolOpt('--once', 'run one round and exit (cron, CI)').env('SIGNET_MONITOR_ONCE'))
    .addOption(monitorOpt('--config <file>', "what to watch, rekor-monitor's YAML: monitoredValues with certIdentities (certSubject, issuers), subjects, fingerprints, fulcioExtensions, customExtensions, oidMatchers"))
    .addOption(opt('-o, --output <format>', 'json: one event per line; text: one line per event for people', 'json'));
  examples(mon, [
    'signet log monitor --url http://127.0.0.1:3000 --trusted-root trusted_root.json --state monitor.json --once',
    'signet log monitor --url http://127.0.0.1:3000 --trusted-root trusted_root.json --state monitor.json --config watch.yaml --interval 1m',
    'signet log monitor --url http://127.0.0.1:3000 --trusted-root trusted_root.json --state new.json --from-index 0 --config watch.yaml --once -o text',
    '',
    'watch.yaml:',
    '  monitoredValues:',
    '    certIdentities:',
    '      - certSubject: ^alice@example\\.com$',
    '        issuers: [^https://accounts\\.example\\.com$]',
    '    fingerprints: [<hex sha256 of a DER public key>]',
    '',
    'Events on stdout: match (index, uuid, kind, digest, identity, fingerprint, matches), checkpoint (each',
    'verified round), stale, entry-unreadable, alarm; with --interval also error. Exit codes: 0, 1 (a failure:',
    'the log unreachable, a bad state file), 2 (usage), 3 (alarm: the state file is left as it was).',
  ]);
  mon.action(async (flags: { url?: string; trustedRoot?: string; state?: string; fromIndex?: string; interval?: string; once?: boolean; config?: string; output: string }) => {
    checkOutput({ output: flags.output });
    if (!flags.url) throw new SignetError('USAGE', 'log monitor needs --url (the transparency log)');
    if (!flags.trustedRoot) throw new SignetError('USAGE', 'log monitor needs --trusted-root FILE (where the log key comes from)');
    if (!flags.state) throw new SignetError('USAGE', 'log monitor needs --state FILE (the last verified checkpoint is kept there)');
    if (flags.once && flags.interval !== undefined) throw new SignetError('USAGE', 'pass --once or --interval, not both');
    const intervalMs = parseDuration(flags.interval ?? '5m');
    if (intervalMs <= 0) throw new SignetError('USAGE', '--interval must be longer than 0');
    let fromIndex: number | undefined;
    if (flags.fromIndex !== undefined) {
      if (!/^(0|[1-9][0-9]*)$/.test(flags.fromIndex) || !Number.isSafeInteger(Number(flags.fromIndex))) throw new SignetError('USAGE', `--from-index must be a non-negative integer, got "${flags.fromIndex}"`);
      fromIndex = Number(flags.fromIndex);
    }
    const trustedRoot = await loadTrustedRoot(flags.trustedRoot);
    if (trustedRoot.tlogs.length === 0) throw new SignetError('USAGE', `${flags.trustedRoot} lists no transparency log key`);
    const config = flags.config !== undefined ? await loadMonitorConfig(flags.config) : undefined;
    // -t/--timeout bounds each round, when given: a backlog may take longer than the 3m default, and
    // every request has its own header and body-idle timeouts anyway.
    const program = mon.parent!.parent!;
    const timeoutMs = program.getOptionValueSource('timeout') === 'default' ? 0 : parseDuration(String(program.opts<{ timeout?: string }>().timeout));
    const emit = (e: MonitorEvent | { type: 'error'; log: string; message: string }): void => ui.out((flags.output === 'json' ? JSON.stringify(e) : eventText(e)) + '\n');
    for (;;) {
      try {
        const signal = timeoutMs > 0 ? deadlineSignal(timeoutMs, '-t/--timeout, for one round') : undefined;
        const r = await withNetOptions(signal ? { signal } : {}, () =>
          monitorRound({
            url: flags.url!,
            trustedRoot,
            statePath: flags.state!,
            ...(fromIndex ?? config?.startIndex) !== undefined ? { fromIndex: (fromIndex ?? config?.startIndex)! } : {},
            ...(config ? { watch: config.monitoredValues } : {}),
            emit,
          }),
        );
        ui.info(`log monitor: ${flags.url} at tree size ${r.size}${r.previousSize !== undefined && r.previousSize !== r.size ? ` (was ${r.previousSize})` : ''}, consistent; ${r.entriesRead} entries read, ${r.matches} matches`);
      } catch (e) {
        if (e instanceof LogAlarm) {
          emit(e.event);
          throw e;
        }
        if (flags.once || !(e instanceof SignetError) || !TRANSIENT.has(e.code)) throw e;
        emit({ type: 'error', log: flags.url, message: e.message });
        ui.warn(`log monitor: ${e.message}; trying again in ${flags.interval ?? '5m'}`);
      }
      if (flags.once) return;
      await sleep(intervalMs, undefined, 'waiting for the next round');
    }
  });
}
