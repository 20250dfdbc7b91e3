/**
 * Key references as cosign's `--key` takes them (a file path or `env://VAR`) and writing key pairs to
 * disk. KMS, PKCS#11, k8s and the other backends are named so the user gets a precise refusal.
 */
import { promises as fs } from 'node:fs';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, ioError, pathExists, readFileLimited, writeTemp } from '../fsutil.js';
import { decryptPrivateKey, isEncryptedKeyLabel } from './encrypted.js';
import { parsePublicKey, publicKeyInfo, signerFromPrivateKey, type PublicKeyInfo, type Signer } from './keys.js';
import { decodePemBlocks, looksLikePem } from './pem.js';

export type PasswordSource = () => Promise<Uint8Array>;

interface Resolved {
  /** What to call the source in messages: the path or `env://VAR`. */
  name: string;
  data: Buffer;
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):(\/\/)?/;

async function resolveRef(ref: string): Promise<Resolved> {
  if (ref === '') throw new SignetError('USAGE', 'empty key reference');
  const m = SCHEME.exec(ref);
  // A one-letter "scheme" is a Windows drive (C:\key), not a URI.
  if (m && m[1]!.length > 1 && (m[2] || m[1] === 'pkcs11')) {
    const scheme = m[1]!.toLowerCase();
    if (scheme === 'env') {
      const name = ref.slice(m[0].length);
      if (!name) throw new SignetError('USAGE', 'key reference env:// needs a variable name (env://VAR)');
      const value = process.env[name];
      if (value === undefined || value === '') {
        throw new SignetError('USAGE', `environment variable ${name} (from ${ref}) is not set`);
      }
      return { name: ref, data: Buffer.from(value, 'utf8') };
    }
    const shown = m[2] ? `${scheme}://` : `${scheme}:`;
    throw new SignetError('KEY_UNSUPPORTED', `key reference scheme ${shown} is not supported (use a file path or env://VAR)`);
  }
  return { name: ref, data: await readFileLimited(ref, FILE_LIMITS.small, `cannot read key file ${ref}`) };
}

function firstLabel(data: Buffer): string | undefined {
  if (!looksLikePem(data)) return undefined;
  return decodePemBlocks(data.toString('utf8'))[0]?.label;
}

/** A signer from cosign's encrypted private key at `ref`; the password is asked for only when needed. */
export async function loadSigner(ref: string, getPassword: PasswordSource): Promise<Signer> {
  const { name, data } = await resolveRef(ref);
  const label = firstLabel(data);
  if (label === undefined) throw new SignetError('KEY_FORMAT', `${name} does not contain a PEM private key`);
  if (!isEncryptedKeyLabel(label)) {
    const hint = /PRIVATE KEY/.test(label)
      ? '; convert it with: signet import-key-pair --key ' + name
      : '';
    throw new SignetError('KEY_FORMAT', `${name} is not an encrypted cosign private key (found PEM "${label}")${hint}`);
  }
  return signerFromPrivateKey(await decrypt(name, data, getPassword));
}

async function decrypt(name: string, data: Buffer, getPassword: PasswordSource): Promise<ReturnType<typeof decryptPrivateKey>> {
  const password = await getPassword();
  try {
    return decryptPrivateKey(data.toString('utf8'), password);
  } catch (e) {
    if (e instanceof SignetError && (e.code === 'KEY_PASSWORD' || e.code === 'KEY_FORMAT')) {
      throw new SignetError(e.code, `${name}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/**
 * A public key from `ref`: PEM public key, certificate, DER SPKI, or (like `cosign public-key --key`)
 * an encrypted private key, which needs `getPassword`.
 */
export async function loadPublicKey(ref: string, getPassword?: PasswordSource): Promise<PublicKeyInfo> {
  const { name, data } = await resolveRef(ref);
  const label = firstLabel(data);
  if (label !== undefined && isEncryptedKeyLabel(label)) {
    if (!getPassword) throw new SignetError('USAGE', `${name} is an encrypted private key; a password is needed to read it`);
    return publicKeyInfo(await decrypt(name, data, getPassword));
  }
  try {
    return parsePublicKey(data);
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `${name}: ${e.message}`, { cause: e });
    throw e;
  }
}

export interface WriteKeyPairOptions {
  overwrite: boolean;
}

/** Move `tmp` to `path`; without `overwrite` a hard link makes "create only if absent" atomic. */
async function place(tmp: string, path: string, overwrite: boolean): Promise<void> {
  if (overwrite) {
    await fs.rename(tmp, path);
    return;
  }
  try {
    await fs.link(tmp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new SignetError('IO', `${path} already exists; refusing to overwrite it`);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw ioError(`cannot write ${path}`, e);
    // Filesystems without hard links: check, then rename (a small race we accept there).
    if (await pathExists(path)) throw new SignetError('IO', `${path} already exists; refusing to overwrite it`);
    await fs.rename(tmp, path);
    return;
  }
  await fs.rm(tmp, { force: true });
}

/**
 * Write `<prefix>.key` (0600) and `<prefix>.pub` (0644, less the umask) atomically. Without
 * `overwrite`, existing files are left untouched and nothing is written.
 */
export async function writeKeyPair(
  prefix: string,
  privatePem: string,
  publicPem: string,
  opts: WriteKeyPairOptions,
): Promise<{ keyPath: string; pubPath: string }> {
  if (prefix === '') throw new SignetError('USAGE', 'the output key prefix is empty');
  const keyPath = `${prefix}.key`;
  const pubPath = `${prefix}.pub`;
  if (!opts.overwrite) {
    for (const p of [keyPath, pubPath]) {
      if (await pathExists(p)) throw new SignetError('IO', `${p} already exists; refusing to overwrite it`);
    }
  }
  const keyTmp = await writeTemp(keyPath, privatePem, 0o600);
  let pubTmp: string;
  try {
    pubTmp = await writeTemp(pubPath, publicPem, 0o644 & ~process.umask());
  } catch (e) {
    await fs.rm(keyTmp, { force: true });
    throw e;
  }
  try {
    await place(keyTmp, keyPath, opts.overwrite);
  } catch (e) {
    await Promise.all([fs.rm(keyTmp, { force: true }), fs.rm(pubTmp, { force: true })]);
    throw e instanceof SignetError ? e : ioError(`cannot write ${keyPath}`, e);
  }
  try {
    await place(pubTmp, pubPath, opts.overwrite);
  } catch (e) {
    await fs.rm(pubTmp, { force: true });
    // Never leave a private key without its public half from this run: undo the key we created.
    if (!opts.overwrite) await fs.rm(keyPath, { force: true });
    throw e instanceof SignetError ? e : ioError(`cannot write ${pubPath}`, e);
  }
  return { keyPath, pubPath };
}

/** Write one file atomically (temp + rename), e.g. `public-key --outfile`. */
