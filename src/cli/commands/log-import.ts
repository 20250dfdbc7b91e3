/**
 * `signet log import`: fills a stopped `signet serve` log (embedded storage) with the entries of another
 * log, through the library's bulk append (server/log/import.ts): from a file of canonical bodies or from
 * a Rekor-compatible log by URL, checked against its signed checkpoint. Resumes where it stopped.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { Option, type Command } from 'commander';
import { SignetError } from '../../errors.js';
import { FILE_LIMITS, readFileLimited } from '../../fsutil.js';
import { examples, opt, ui } from '../common.js';

export function registerImport(log: Command): void {
  const cmd = log
    .command('import')
    .description(
      'append the entries of another log to a signet serve log (embedded storage, the server stopped), in bulk: from a file of base64 canonical bodies (one per line, optionally followed by search keys) or a Rekor v1/v2 URL, checked against its signed checkpoint; resumes an interrupted import',
    )
    .addOption(new Option('--data-dir <dir>', 'the data directory the server runs with (signet serve --data-dir)').env('SIGNET_DATA_DIR'))
    .addOption(opt('--from <file|url>', 'a file of entries (- for standard input) or the base URL of a Rekor-compatible log'))
    .addOption(opt('--public-key <file>', 'PEM public key of the source log, to check its checkpoint (default: the key it serves, trusted on first use)'))
    .addOption(opt('--log-key <file>', 'PEM private key of the log being filled, as given to signet serve --log-key (default: DIR/log.key, created if missing)'))
    .addOption(opt('--origin <origin>', 'checkpoint origin of a log created by the import (as signet serve --origin)'))
    .addOption(opt('--sign-sets', "sign each entry's Rekor v1 SET with the log key while importing and store it, as a write through the API does, so that reads serve it instead of signing one each (an ECDSA signature and ~90 bytes per entry)"))
    .addOption(opt('-o, --output <format>', 'output format: json or text', 'text'));
  examples(cmd, [
    'signet log import --data-dir /var/lib/signet --from entries.txt',
    'signet log import --data-dir /var/lib/signet --from entries.txt --sign-sets',
    'signet log import --data-dir /var/lib/signet --from https://log.example.com --public-key log.pub -o json',
  ]);
  cmd.action(async (flags: { dataDir?: string; from?: string; publicKey?: string; logKey?: string; origin?: string; signSets?: boolean; output: string }) => {
    if (flags.output !== 'json' && flags.output !== 'text') throw new SignetError('USAGE', `unknown output format "${flags.output}" (json or text)`);
    if (!flags.dataDir) throw new SignetError('USAGE', 'log import needs --data-dir DIR');
    if (!flags.from) throw new SignetError('USAGE', 'log import needs --from FILE or --from URL');
    const isUrl = /^https?:\/\//i.test(flags.from);
    if (flags.publicKey !== undefined && !isUrl) throw new SignetError('USAGE', '--public-key is for a source given by URL');
    const { importLog, fileSource, urlSource } = await import('../../server/log/import.js');
    let source;
    if (isUrl) {
      const publicKey = flags.publicKey === undefined ? undefined : await readLogPublicKey(flags.publicKey);
      source = await urlSource(flags.from, {
        ...(publicKey ? { publicKey } : {}),
        onTofu: (u) => ui.warn(`no --public-key given: trusting the public key that ${u} serves itself`),
      });
    } else source = fileSource(flags.from);
    const signingKey = flags.logKey ? await (await import('./serve.js')).loadKeyFile(flags.logKey, 'log key') : undefined;
    const t0 = performance.now();
    let last = t0;
    const report = await importLog({
      dataDir: flags.dataDir,
      source,
      ...(signingKey ? { signingKey } : {}),
      ...(flags.origin ? { origin: flags.origin } : {}),
      ...(flags.signSets ? { sets: true } : {}),
      progress: (size, imported) => {
        const now = performance.now();
        if (now - last < 1000) return;
        last = now;
        const of = source.checkpoint ? ` of ${source.checkpoint.size}` : '';
        ui.info(`import: ${size}${of} entries in the log, ${Math.round(imported / ((now - t0) / 1000))} entries/s`);
      },
      compacting: () => ui.info('import: every entry is in; merging the search index (a minute or more for millions of entries)…'),
    });
    if (flags.output === 'json') ui.out(JSON.stringify(report, null, 2) + '\n');
    else {
      ui.out(
        `Imported ${report.imported} entries from ${report.source} into the log in ${report.dataDir}${report.resumedAt > 0 ? ` (resumed after ${report.resumedAt})` : ''}: tree size ${report.treeSize}, root ${report.rootHash}.\n` +
          (report.sourceSize !== undefined ? `The root matches the source's signed checkpoint.\n` : '') +
          (report.withoutKeys > 0 ? `${report.withoutKeys} entries have no search keys (their kind's keys cannot be derived from the body; give them in the file).\n` : ''),
      );
    }
  });
}

/** A log's PEM public key from a file (`--public-key` of `log import` and `log fsck`). */
export async function readLogPublicKey(path: string): Promise<KeyObject> {
  const pem = (await readFileLimited(path, FILE_LIMITS.small, `public key ${path}`)).toString('utf8');
  try {
    return createPublicKey(pem);
  } catch {
    throw new SignetError('KEY_FORMAT', `${path} is not a PEM public key`);
  }
}
