/**
 * Key management commands: generate-key-pair, import-key-pair, public-key. Output mirrors cosign:
 * PEM on stdout, "… written to …" messages on stderr.
 */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { SignetError } from '../../errors.js';
import {
  encryptPrivateKey,
  generateKeyPair,
  importPrivateKeyPem,
  isPkcs11Uri,
  kmsPluginCreateKey,
  kmsPluginRef,
  loadPublicKey,
  publicKeyInfo,
  writeKeyPair,
} from '../../keys/index.js';
import { pathExists, writeFileAtomic } from '../../fsutil.js';
import type { KeyObject } from 'node:crypto';
import { boolOpt, examples, opt, ui } from '../common.js';
import { askYesNo, newKeyPasswordNotice, readPassword } from '../password.js';

/** Decide whether existing key files may be replaced: --yes, else ask on a terminal, else refuse. */
async function confirmOverwrite(prefix: string, yes: boolean): Promise<boolean> {
  const existing: string[] = [];
  for (const p of [`${prefix}.key`, `${prefix}.pub`]) if (await pathExists(p)) existing.push(p);
  if (existing.length === 0) return false;
  if (yes) return true;
  if (!process.stdin.isTTY) {
    throw new SignetError('USAGE', `${existing[0]} already exists; pass --yes to overwrite it`);
  }
  for (const p of existing) {
    if (!(await askYesNo(`File ${p} already exists. Overwrite (y/n)? `))) {
      throw new SignetError('USAGE', `not overwriting ${p}`);
    }
  }
  return true;
}

async function saveEncrypted(key: KeyObject, prefix: string, yes: boolean): Promise<void> {
  const overwrite = await confirmOverwrite(prefix, yes);
  const password = await readPassword({ confirm: true });
  let privatePem: string;
  try {
    privatePem = encryptPrivateKey(key, password);
  } finally {
    password.fill(0);
  }
  const { keyPath, pubPath } = await writeKeyPair(prefix, privatePem, publicKeyInfo(key).pem, { overwrite });
  ui.info(`Private key written to ${keyPath}`);
  ui.info(`Public key written to ${pubPath}`);
  const notice = newKeyPasswordNotice(keyPath);
  if (notice.warning) ui.warn(notice.warning);
  if (notice.note) ui.info(notice.note);
}

export interface GenerateKeyPairFlags {
  outputKeyPrefix: string;
  yes: boolean;
  kms?: string;
}

export async function generateKeyPairAction(ref: string | undefined, flags: GenerateKeyPairFlags): Promise<void> {
  if (ref !== undefined) {
    if (isPkcs11Uri(ref)) await createKmsKey(ref, flags.outputKeyPrefix, flags.yes);
    const scheme = /^([a-z0-9+.-]+):\/\//i.exec(ref)?.[1];
    if (!scheme) {
      throw new SignetError('USAGE', `unexpected argument "${ref}" (use --output-key-prefix to choose file names)`);
    }
    throw new SignetError('KEY_UNSUPPORTED', `generate-key-pair into ${scheme}:// is not supported; only local files`);
  }
  if (flags.kms) {
    await createKmsKey(flags.kms, flags.outputKeyPrefix, flags.yes);
    return;
  }
  const { privateKey } = generateKeyPair('ecdsa-p256');
  await saveEncrypted(privateKey, flags.outputKeyPrefix, flags.yes);
}

/**
 * `generate-key-pair --kms NAME://KEY`, as cosign: the KMS plug-in creates the key with its default
 * algorithm and the public key is written to `<prefix>.pub`.
 */
async function createKmsKey(ref: string, prefix: string, yes: boolean): Promise<void> {
  if (isPkcs11Uri(ref)) {
    throw new SignetError(
      'KEY_UNSUPPORTED',
      'generate-key-pair does not create keys in PKCS#11 tokens (nor does cosign): create one with the token\'s tools (e.g. pkcs11-tool --keypairgen), then find its URI with signet pkcs11-tool list-keys-uris',
    );
  }
  const pubPath = `${prefix}.pub`;
  if (!yes && (await pathExists(pubPath))) {
    if (!process.stdin.isTTY || !(await askYesNo(`File ${pubPath} already exists. Overwrite (y/n)? `))) {
      throw new SignetError('USAGE', `${pubPath} already exists; pass --yes to overwrite it`);
    }
  }
  const plugin = await kmsPluginRef(ref);
  const info = await kmsPluginCreateKey(plugin);
  await writeFileAtomic(pubPath, info.pem);
  ui.info(`Public key written to ${pubPath}`);
}

export interface ImportKeyPairFlags {
  key?: string;
  outputKeyPrefix: string;
  yes: boolean;
}

export async function importKeyPairAction(flags: ImportKeyPairFlags): Promise<void> {
  if (!flags.key) throw new SignetError('USAGE', 'import-key-pair needs --key FILE (the PEM private key to import)');
  let pem: string;
  try {
    pem = await fs.readFile(flags.key, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SignetError('IO', `cannot read key file ${flags.key}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
      cause: e,
    });
  }
  let key: KeyObject;
  try {
    key = importPrivateKeyPem(pem);
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `${flags.key}: ${e.message}`, { cause: e });
    throw e;
  }
  await saveEncrypted(key, flags.outputKeyPrefix, flags.yes);
}

export interface PublicKeyFlags {
  key?: string;
  outfile?: string;
  sk?: boolean;
}

export async function publicKeyAction(flags: PublicKeyFlags): Promise<void> {
  if (flags.sk) throw new SignetError('KEY_UNSUPPORTED', 'security keys (--sk) are not supported');
  if (!flags.key) throw new SignetError('USAGE', 'public-key needs --key (a key file, env://VAR, pkcs11:… or NAME://… of a KMS plug-in)');
  const info = await loadPublicKey(flags.key, () => readPassword({ confirm: false }));
  if (flags.outfile) {
    await writeFileAtomic(flags.outfile, info.pem);
    ui.info(`Public key written to ${flags.outfile}`);
  } else {
    ui.out(info.pem);
  }
}

export function registerKeyCommands(program: Command): void {
  const gen = program
    .command('generate-key-pair')
    .description('generate an ECDSA P-256 key pair, the private key encrypted with a password (or a key in a KMS, through its plug-in)')
    .argument('[key-ref]', 'k8s://, gitlab://, github:// destinations (not supported; files only)')
    .addOption(opt('--output-key-prefix <prefix>', 'write <prefix>.key and <prefix>.pub', 'cosign'))
    .addOption(opt('--kms <uri>', 'create the key in a KMS through its plug-in sigstore-kms-NAME on PATH (NAME://KEY); writes <prefix>.pub'))
    .addOption(boolOpt('-y, --yes', 'overwrite existing key files without asking'))
    .action((ref: string | undefined, flags: GenerateKeyPairFlags) => generateKeyPairAction(ref, flags));
  examples(gen, [
    'signet generate-key-pair',
    'COSIGN_PASSWORD=secret signet generate-key-pair --output-key-prefix release',
    'printf secret | signet generate-key-pair -y',
    'signet generate-key-pair --kms mykms://keys/release   # sigstore-kms-mykms on PATH',
  ]);

  const imp = program
    .command('import-key-pair')
    .description('import a PEM private key (PKCS#1 RSA, SEC1 EC or PKCS#8) into cosign\'s encrypted format')
    .addOption(opt('-k, --key <file>', 'the PEM private key to import'))
    .addOption(opt('-o, --output-key-prefix <prefix>', 'write <prefix>.key and <prefix>.pub', 'import-cosign'))
    .addOption(boolOpt('-y, --yes', 'overwrite existing key files without asking'))
    .action((flags: ImportKeyPairFlags) => importKeyPairAction(flags));
  examples(imp, [
    'signet import-key-pair --key opensslrsakey.pem',
    'signet import-key-pair -k ec.pem -o release -y',
  ]);

  const pub = program
    .command('public-key')
    .description('print the public key of a key reference (file, env://VAR, PKCS#11 URI, KMS plug-in key)')
    .addOption(opt('--key <ref>', 'private or public key file, env://VAR, pkcs11:… URI, or NAME://… served by sigstore-kms-NAME'))
    .addOption(opt('--outfile <file>', 'write the PEM public key to this file instead of stdout'))
    .addOption(boolOpt('--sk', 'use a hardware security key (not supported)'))
    .action((flags: PublicKeyFlags) => publicKeyAction(flags));
  examples(pub, [
    'signet public-key --key cosign.key',
    'signet public-key --key env://COSIGN_PRIVATE_KEY --outfile cosign.pub',
    "signet public-key --key 'pkcs11:token=ci;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so'",
    'signet public-key --key mykms://keys/release   # sigstore-kms-mykms on PATH',
  ]);
}
