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
