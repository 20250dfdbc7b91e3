/**
 * A SoftHSM2 token for the tests (and the keys benchmark): Debian's softhsm2 and opensc (pkcs11-tool)
 * installed when missing, a fresh token directory under a temp dir named by SOFTHSM2_CONF, one token
 * initialised with a PIN, and key pairs generated inside it by pkcs11-tool.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aptInstall } from './apt.js';

const MODULE_CANDIDATES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'];

export function softhsmModule(): string {
  let found = MODULE_CANDIDATES.find((p) => existsSync(p));
  if (!found) {
    aptInstall('softhsm2');
    found = MODULE_CANDIDATES.find((p) => existsSync(p));
  }
  if (!found) throw new Error('softhsm2 is installed but libsofthsm2.so was not found');
  if (!existsSync('/usr/bin/pkcs11-tool')) aptInstall('opensc');
  return found;
}

export interface SoftToken {
  module: string;
  /** The environment every process using the token needs (SOFTHSM2_CONF). */
  env: Record<string, string>;
  label: string;
  pin: string;
  /** The slot the token was given. */
  slot: number;
  /** Generate a key pair in the token: `EC:prime256v1`, `EC:secp384r1`, `rsa:2048`… */
  generate(keyType: string, label: string, idHex: string): void;
  /** Store a DER certificate in the token (pkcs11-tool --write-object), beside the key of that label and id. */
  writeCertificate(derPath: string, label: string, idHex: string): void;
  /** `pkcs11:` URI of a key, with the module path and (unless `pin` is false) the PIN. */
  uri(label: string, opts?: { pin?: boolean }): string;
}

export function createSoftToken(dir: string, label = 'signet-test', pin = '1234'): SoftToken {
  const module = softhsmModule();
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens, { recursive: true });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { SOFTHSM2_CONF: conf };
  const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = run('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '87654321']);
  const slot = Number(/reassigned to slot (\d+)/.exec(out)?.[1]);
  if (!Number.isSafeInteger(slot)) throw new Error(`softhsm2-util did not say which slot: ${out}`);
  return {
    module,
    env,
    label,
    pin,
    slot,
    generate(keyType, keyLabel, idHex) {
      run('pkcs11-tool', ['--module', module, '--token-label', label, '--login', '--pin', pin, '--keypairgen', '--key-type', keyType, '--label', keyLabel, '--id', idHex]);
    },
    writeCertificate(derPath, keyLabel, idHex) {
      run('pkcs11-tool', ['--module', module, '--token-label', label, '--login', '--pin', pin, '--write-object', derPath, '--type', 'cert', '--label', keyLabel, '--id', idHex]);
    },
    uri(keyLabel, opts = {}) {
      return `pkcs11:token=${label};object=${keyLabel}?module-path=${module}${opts.pin === false ? '' : `&pin-value=${pin}`}`;
    },
  };
}
