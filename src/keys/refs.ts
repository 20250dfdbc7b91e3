/**
 * Key references as cosign's `--key` takes them and writing key pairs to disk. A reference is a file
 * path, `env://VAR` (the PEM in a variable), `pkcs11:…` (a key in a PKCS#11 token, pkcs11.ts),
 * `NAME://…` served by a KMS plug-in `sigstore-kms-NAME` on PATH (kms-plugin.ts), or, for public keys
 * only, an `https://` URL. cosign's built-in KMS providers and secret stores are refused by name.
 */
import { promises as fs } from 'node:fs';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, ioError, pathExists, readFileLimited, writeTemp } from '../fsutil.js';
import { errorCode, httpFetch, readLimited } from '../net.js';
import { decryptPrivateKey, isEncryptedKeyLabel } from './encrypted.js';
import { KMS_PLUGIN_PREFIX, kmsPluginPublicKey, kmsPluginSigner, parseKmsRef, resolveKmsRef, type KmsRef } from './kms-plugin.js';
import { parsePublicKey, publicKeyInfo, signerFromPrivateKey, type PublicKeyInfo, type Signer } from './keys.js';
import { decodePemBlocks, looksLikePem } from './pem.js';

export type PasswordSource = () => Promise<Uint8Array>;

interface Resolved {
  /** What to call the source in messages: the path or `env://VAR`. */
  name: string;
  data: Buffer;
}

type Source =
  | { kind: 'data'; resolved: Resolved }
  | { kind: 'pkcs11'; ref: string }
  | { kind: 'kms'; ref: KmsRef }
  | { kind: 'https'; url: string };

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):(\/\/)?/;

/** cosign's built-in KMS providers: Signet reaches them only through a plug-in of the same name. */
const BUILTIN_KMS: Record<string, string> = {
  awskms: 'AWS KMS',
  gcpkms: 'Google Cloud KMS',
  azurekms: 'Azure Key Vault',
  hashivault: 'HashiCorp Vault',
};

async function classify(ref: string): Promise<Source> {
  if (ref === '') throw new SignetError('USAGE', 'empty key reference');
  const m = SCHEME.exec(ref);
  // A one-letter "scheme" is a Windows drive (C:\key), not a URI.
  if (m && m[1]!.length > 1 && (m[2] || m[1]!.toLowerCase() === 'pkcs11')) {
    const scheme = m[1]!.toLowerCase();
    if (scheme === 'env') {
      const name = ref.slice(m[0].length);
      if (!name) throw new SignetError('USAGE', 'key reference env:// needs a variable name (env://VAR)');
      const value = process.env[name];
      if (value === undefined || value === '') {
        throw new SignetError('USAGE', `environment variable ${name} (from ${ref}) is not set`);
      }
      return { kind: 'data', resolved: { name: ref, data: Buffer.from(value, 'utf8') } };
    }
    if (scheme === 'pkcs11') return { kind: 'pkcs11', ref };
    if (scheme === 'https') return { kind: 'https', url: ref };
    if (scheme === 'http') {
      throw new SignetError('KEY_UNSUPPORTED', `public key URL ${ref} is plain HTTP; use https://`);
    }
    if (scheme === 'k8s' || scheme === 'gitlab' || scheme === 'github') {
      throw new SignetError('KEY_UNSUPPORTED', `key reference scheme ${scheme}:// is not supported (use a file path, env://VAR, pkcs11: or a KMS plug-in)`);
    }
    return { kind: 'kms', ref: await kmsPluginRef(ref) };
  }
  return { kind: 'data', resolved: { name: ref, data: await readFileLimited(ref, FILE_LIMITS.small, `cannot read key file ${ref}`) } };
}

/**
 * The KMS plug-in that serves `NAME://…` (`sigstore-kms-NAME` on PATH); without one, an error naming it
 * (for cosign's built-in providers too: Signet reaches those only through a plug-in).
 */
export async function kmsPluginRef(ref: string): Promise<KmsRef> {
  const parsed = parseKmsRef(ref);
  if (!parsed) throw new SignetError('USAGE', `${ref} is not a KMS key reference (NAME://KEY)`);
  const kms = await resolveKmsRef(ref);
  if (kms) return kms;
  const scheme = parsed.scheme.toLowerCase();
  const plugin = KMS_PLUGIN_PREFIX + parsed.scheme;
  const builtin = BUILTIN_KMS[scheme];
  if (builtin) {
    throw new SignetError('KEY_UNSUPPORTED', `${scheme}:// keys need the KMS plug-in ${plugin} on PATH (Signet has no built-in ${builtin} client)`);
  }
  throw new SignetError(
    'KEY_UNSUPPORTED',
    `key reference scheme ${scheme}:// is not supported: no KMS plug-in ${plugin} on PATH (or use a file path, env://VAR or pkcs11:)`,
  );
}

/**
 * A public key published at an https:// URL (cosign's `--key https://…`), capped at 1 MiB. Redirects are
 * followed (at most 5) only to https:// URLs.
 */
async function fetchPublicKey(url: string): Promise<Resolved> {
  let at = url;
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await httpFetch(at, { redirect: 'manual' });
    } catch (e) {
      if (e instanceof SignetError) throw e;
      const cause = (e as { cause?: unknown }).cause;
      const why = cause instanceof Error ? cause.message : e instanceof Error ? e.message : String(e);
      throw new SignetError('NETWORK', `cannot fetch public key ${url}: ${why}${errorCode(e) ? ` (${errorCode(e)})` : ''}`, { cause: e });
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location !== null) {
      await res.body?.cancel().catch(() => undefined);
      const next = new URL(location, at).href;
      if (!next.startsWith('https:')) throw new SignetError('NETWORK', `cannot fetch public key ${url}: redirected to ${next}, which is not https://`);
      if (hop >= 5) throw new SignetError('NETWORK', `cannot fetch public key ${url}: too many redirects`);
      at = next;
      continue;
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new SignetError('NETWORK', `cannot fetch public key ${url}: HTTP ${res.status}`);
    }
    return { name: url, data: await readLimited(res, FILE_LIMITS.small, `public key ${url}`) };
  }
}

function firstLabel(data: Buffer): string | undefined {
  if (!looksLikePem(data)) return undefined;
  return decodePemBlocks(data.toString('utf8'))[0]?.label;
}

/**
 * A signer for `ref`: cosign's encrypted private key (the password is asked for only when needed), a
 * key in a PKCS#11 token, or a key behind a KMS plug-in.
 */
export async function loadSigner(ref: string, getPassword: PasswordSource): Promise<Signer> {
  const source = await classify(ref);
  if (source.kind === 'pkcs11') return (await import('./pkcs11.js')).pkcs11Signer(ref);
  if (source.kind === 'kms') return kmsPluginSigner(source.ref);
  if (source.kind === 'https') throw new SignetError('KEY_UNSUPPORTED', `${ref} is a public key URL; signing needs a private key`);
  const { name, data } = source.resolved;
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
 * an encrypted private key, which needs `getPassword`; the public half of a PKCS#11 or KMS-plug-in key;
 * or a public key fetched from an https:// URL.
 */
export async function loadPublicKey(ref: string, getPassword?: PasswordSource): Promise<PublicKeyInfo> {
  const source = await classify(ref);
  if (source.kind === 'pkcs11') return (await import('./pkcs11.js')).pkcs11PublicKey(ref);
  if (source.kind === 'kms') return kmsPluginPublicKey(source.ref);
  const { name, data } = source.kind === 'https' ? await fetchPublicKey(source.url) : source.resolved;
  const label = firstLabel(data);
  if (label !== undefined && isEncryptedKeyLabel(label)) {
    if (source.kind === 'https') throw new SignetError('KEY_FORMAT', `${name} holds an encrypted private key, not a public key`);
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
