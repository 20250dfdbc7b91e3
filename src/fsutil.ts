/**
 * Local files, written so that nothing is ever half-written: a temp file beside the target (same
 * filesystem), synced, then renamed. Readers see the old file or the whole new one.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, constants as fsc } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SignetError } from './errors.js';

/** An fs error as one line in the user's terms. */
export function ioError(what: string, e: unknown): SignetError {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ERR_FS_FILE_TOO_LARGE' || err?.code === 'ERR_STRING_TOO_LONG' || e instanceof RangeError) {
    return new SignetError('TOO_LARGE', `${what}: too large to hold in memory`, { cause: e });
  }
  const why =
    err?.code === 'ENOENT'
      ? 'no such file'
      : err?.code === 'EACCES' || err?.code === 'EPERM'
        ? 'permission denied'
        : err?.code === 'EISDIR'
          ? 'is a directory'
          : err?.code === 'EEXIST'
            ? 'already exists'
            : (err?.message ?? String(e));
  return new SignetError('IO', `${what}: ${why}`, { cause: e });
}

/**
 * Size limits for files read whole and parsed. Parsing costs several times a file's size in memory, so a
 * file past its limit is refused from its size, before a byte is read.
 */
export const FILE_LIMITS = {
  /**
   * Sigstore and cosign bundles: certificates, log entries and at most one DSSE envelope. The largest real
   * ones carry an SBOM attestation of a few MiB; 32 MiB leaves room for those and keeps a parse near
   * 300 MB at worst (a 50 MB bundle took 433 MB before it was refused).
   */
  bundle: 32 * 1024 * 1024,
  /** Signatures, keys, certificates and chains, identity tokens, TUF root metadata: a few KiB each. */
  small: 1024 * 1024,
} as const;

/**
 * A whole file, refused with TOO_LARGE when it is larger than `max` (checked on the open descriptor before
 * reading, and again while reading, for files that grow or report no size: pipes, /dev/stdin).
 */
export async function readFileLimited(path: string, max: number, what: string): Promise<Buffer> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    throw ioError(what, e);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new SignetError('IO', `${what}: is a directory`);
    if (st.size > max) throw new SignetError('TOO_LARGE', `${what}: ${st.size} bytes, more than the limit of ${max}`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(max + 1 - total, 1 << 20) || 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max) throw new SignetError('TOO_LARGE', `${what}: more than the limit of ${max} bytes`);
      chunks.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total);
  } catch (e) {
    if (e instanceof SignetError) throw e;
    throw ioError(what, e);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Whether anything (a file, a directory, a dangling link) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** A UTF-8 file's text, or undefined when there is no such file; other failures are one-line IO errors. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(`cannot read ${path}`, e);
  }
}

/** Write to a fresh temp file beside `path` and fsync it; returns the temp path. */
export async function writeTemp(path: string, content: string | Uint8Array, mode: number): Promise<string> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  } catch (e) {
    throw ioError(`cannot write ${path}`, e);
  }
  try {
    await fh.chmod(mode);
    await fh.writeFile(content);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw ioError(`cannot write ${path}`, e);
  }
  await fh.close();
  return tmp;
}

/** Replace `path` atomically with `content` (mode is applied as given, not through the umask). */
export async function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = await writeTemp(path, content, mode);
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw ioError(`cannot write ${path}`, e);
  }
}
