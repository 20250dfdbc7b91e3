/**
 * `signet serve`: run the transparency log (Rekor v1 + v2 APIs, tiles) on one port. Prints the URL and
 * the trusted root path on stdout; request logs go to stderr as JSON lines. SIGTERM/SIGINT stop
 * accepting connections, finish in-flight requests and their batches, and close the log.
 */
import type { KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { Command, Option } from 'commander';
import { SignetError } from '../../errors.js';
import { ioError } from '../../fsutil.js';
import { decodePemBlocks, decryptPrivateKey, importPrivateKeyPem, isEncryptedKeyLabel } from '../../keys/index.js';
import { startServer } from '../../server/serve.js';
import { examples, ui } from '../common.js';
import { readPassword } from '../password.js';

interface ServeFlags {
  dataDir?: string;
  listen: string;
  storage?: string;
  logKey?: string;
  origin?: string;
}

/** A log key from a PEM file: plain PKCS#8/SEC1/PKCS#1, or cosign's encrypted format (COSIGN_PASSWORD). */
async function loadLogKey(path: string): Promise<KeyObject> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw ioError(`cannot read log key ${path}`, e);
  }
  const label = decodePemBlocks(text)[0]?.label;
  if (label === undefined) throw new SignetError('KEY_FORMAT', `${path} does not contain a PEM private key`);
  try {
    if (isEncryptedKeyLabel(label)) return decryptPrivateKey(text, await readPassword({ confirm: false, prompt: 'Enter password for the log key: ' }));
    return importPrivateKeyPem(text);
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description(
      'run a private Sigstore transparency log: the Rekor v1 API (/api/v1/...), the Rekor v2 write API and C2SP tiles ' +
        '(/api/v2/...), /metrics and /ping, all on one port; writes DIR/trusted_root.json for clients',
    )
    .addOption(new Option('--data-dir <dir>', 'directory for the log (tiles, index, log.key, trusted_root.json); created if missing').env('SIGNET_DATA_DIR'))
    .addOption(new Option('--listen <host:port>', 'address to listen on ("[::1]:3000", ":3000" for all interfaces, port 0 for any free port)').default('127.0.0.1:3000').env('SIGNET_LISTEN'))
    .addOption(
      new Option('--storage <url>', 'log storage: "embedded" (files + SQLite under --data-dir) or a postgres://user:pass@host/db URL shared by several servers')
        .env('SIGNET_STORAGE'),
    )
    .addOption(
      new Option('--log-key <file>', 'PEM private key that signs checkpoints and SETs (PKCS#8, EC, or cosign encrypted with COSIGN_PASSWORD); default: an ECDSA P-256 key generated once into DIR/log.key')
        .env('SIGNET_LOG_KEY'),
    )
    .addOption(
      new Option('--origin <origin>', 'checkpoint origin line, fixed when the log is created; default "signet-log - <treeID>". The note signature name is the part before " - "; sigstore-js only accepts checkpoints whose name occurs in the log URL, so name the host clients use (e.g. "log.example.com - prod")').env('SIGNET_ORIGIN'),
    )
    .action(async (flags: ServeFlags) => {
      if (!flags.dataDir) throw new SignetError('USAGE', 'serve needs --data-dir DIR');
      const logKey = flags.logKey ? await loadLogKey(flags.logKey) : undefined;
      const srv = await startServer({
        dataDir: flags.dataDir,
        listen: flags.listen,
        ...(flags.storage ? { storage: flags.storage } : {}),
        ...(logKey ? { logKey } : {}),
        ...(flags.origin ? { origin: flags.origin } : {}),
      });
      ui.out(`Listening on ${srv.url}\nTrusted root: ${srv.trustedRootPath}\n`);
      await new Promise<void>((resolve, reject) => {
        let stopping = false;
        const stop = (sig: string): void => {
          if (stopping) return;
          stopping = true;
          ui.info(`${sig}: finishing in-flight requests`);
          srv.close().then(resolve, reject);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
  examples(cmd, [
    'signet serve --data-dir /var/lib/signet',
    'signet serve --data-dir ./log --listen 0.0.0.0:3000 --origin "log.example.com - prod"',
    'COSIGN_PASSWORD=... signet serve --data-dir ./log --log-key cosign.key',
    'signet serve --data-dir ./node1 --storage postgres://signet:secret@db.internal/signet --listen :3000',
    'signet sign-blob --key cosign.key --rekor-url http://127.0.0.1:3000 --bundle out.sigstore.json artifact.bin',
  ]);
}
