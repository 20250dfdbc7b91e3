/**
 * `signet witness`: a C2SP tlog-witness that cosigns the checkpoints of the logs it is told about, after
 * checking each is consistent with the last one it cosigned (src/server/witness).
 */
import { generateKeyPairSync } from 'node:crypto';
import { Command, Option } from 'commander';
import { SignetError } from '../../errors.js';
import { readFileLimited, FILE_LIMITS } from '../../fsutil.js';
import { encryptPrivateKey, writeKeyPair } from '../../keys/index.js';
import { parseWitnessedLogs } from '../../server/witness/index.js';
import { startWitness } from '../../server/witness/server.js';
import { cosignerVkey } from '../../tlog/cosignature.js';
import { examples, ui, untilSignal } from '../common.js';
import { readPassword } from '../password.js';
import { loadKeyFile } from './serve.js';

interface WitnessFlags {
  key?: string;
  name?: string;
  logs?: string;
  dataDir?: string;
  listen: string;
  generateKey?: boolean;
  printVkey?: boolean;
}

export function registerWitness(program: Command): void {
  const cmd = program
    .command('witness')
    .description(
      'run a transparency-log witness (C2SP tlog-witness): POST /add-checkpoint verifies a log\'s signed checkpoint and its consistency ' +
        'with the last checkpoint cosigned for that log, stores it, and answers with an Ed25519 cosignature/v1; rollbacks and forks are refused',
    )
    .addOption(new Option('--key <file>', 'the witness\'s Ed25519 private key (cosign\'s encrypted format, password from COSIGN_PASSWORD, or a plain PKCS#8 PEM)').env('SIGNET_WITNESS_KEY'))
    .addOption(new Option('--name <name>', 'the witness\'s key name, a schema-less URL such as witness.example.com/w1; it is part of the key ID').env('SIGNET_WITNESS_NAME'))
    .addOption(new Option('--logs <file>', 'JSON file of the logs to witness: {"logs": [{"origin": "...", "key": "<PEM public key or vkey>"}]}').env('SIGNET_WITNESS_LOGS'))
    .addOption(new Option('--data-dir <dir>', 'where the latest cosigned checkpoint of each log is kept').env('SIGNET_DATA_DIR'))
    .addOption(new Option('--listen <host:port>', 'address to listen on').default('127.0.0.1:3100').env('SIGNET_LISTEN'))
    .addOption(new Option('--generate-key', 'create a new encrypted Ed25519 key at --key (and <key>.pub), print its vkey and exit'))
    .addOption(new Option('--print-vkey', 'print the witness\'s verifier key (name+id+key, what logs and verifiers configure) and exit'))
    .action(async (flags: WitnessFlags) => {
      if (!flags.key) throw new SignetError('USAGE', 'witness needs --key FILE (create one with --generate-key)');
      if (!flags.name) throw new SignetError('USAGE', 'witness needs --name NAME (e.g. witness.example.com/w1)');
      if (flags.generateKey) {
        const { privateKey, publicKey } = generateKeyPairSync('ed25519');
        const password = await readPassword({ confirm: true });
        const prefix = flags.key.replace(/\.key$/, '');
        if (`${prefix}.key` !== flags.key) throw new SignetError('USAGE', '--generate-key writes <prefix>.key and <prefix>.pub: give --key a name ending in .key');
        await writeKeyPair(prefix, encryptPrivateKey(privateKey, password), publicKey.export({ type: 'spki', format: 'pem' }).toString(), { overwrite: false });
        ui.info(`Private key written to ${prefix}.key, public key to ${prefix}.pub`);
        ui.out(cosignerVkey(flags.name, privateKey) + '\n');
        return;
      }
      const key = await loadKeyFile(flags.key, 'witness key');
      if (key.asymmetricKeyType !== 'ed25519') throw new SignetError('KEY_UNSUPPORTED', `${flags.key}: a witness key must be Ed25519, not ${key.asymmetricKeyType ?? 'unknown'}`);
      if (flags.printVkey) {
        ui.out(cosignerVkey(flags.name, key) + '\n');
        return;
      }
      if (!flags.logs) throw new SignetError('USAGE', 'witness needs --logs FILE (the logs it cosigns)');
      if (!flags.dataDir) throw new SignetError('USAGE', 'witness needs --data-dir DIR (where it keeps the last cosigned checkpoints)');
      const logs = parseWitnessedLogs((await readFileLimited(flags.logs, FILE_LIMITS.small, `cannot read ${flags.logs}`)).toString('utf8'), flags.logs);
      const w = await startWitness({ name: flags.name, key, logs, dataDir: flags.dataDir, listen: flags.listen });
      ui.out(`Listening on ${w.url}\nWitness key: ${w.witness.vkey}\n`);
      await untilSignal(() => w.close());
    });
  examples(cmd, [
    'COSIGN_PASSWORD=... signet witness --generate-key --key witness.key --name witness.example.com/w1',
    'COSIGN_PASSWORD=... signet witness --key witness.key --name witness.example.com/w1 --logs logs.json --data-dir /var/lib/witness --listen :3100',
    'signet serve --data-dir ./log --witness http://witness.example.com:3100,witness.example.com/w1+1b2c3d4e+BA...',
  ]);
}
