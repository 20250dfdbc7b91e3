/**
 * Secrets and ConfigMaps mounted as volumes, read as the kubelet writes them: `DIR/<name>/<key>`, each
 * key a symlink into `..data`, itself a symlink to a timestamped directory that the kubelet replaces
 * with a new one in one rename on every update (then deletes the old one). The keys are read through
 * `..data` resolved once, so a read sees one version of the object whole, and a read that loses the
 * race with the deletion of the old version starts over. A directory without `..data` (made by hand)
 * is read as it is. Hidden names (`..data`, `..2026_…`) are not keys.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { SignetError } from '../errors.js';

const MAX_BYTES = 1024 * 1024;

export type MountKind = 'Secret' | 'ConfigMap';

// Kubernetes object names: DNS subdomains (RFC 1123), so never a path.
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The keys and values of the object `name` mounted under `dir` (NOT_FOUND when it is not there). */
export async function readMounted(dir: string, name: string, kind: MountKind): Promise<Map<string, Buffer>> {
  if (!NAME.test(name) || name.length > 253 || name.includes('..')) throw new SignetError('MALFORMED', `${kind} name ${JSON.stringify(name)} is not a Kubernetes object name`);
  const base = join(dir, name);
  for (let attempt = 0; ; attempt++) {
    try {
      return await readOnce(base);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // ENOENT with the mount still there: the version resolved was swapped out and deleted while being read.
      if (code === 'ENOENT' && (await exists(base))) {
        if (attempt < 50) continue;
        throw new SignetError('IO', `${kind} ${name} at ${base} kept changing while being read`);
      }
      if (code === 'ENOENT') throw new SignetError('NOT_FOUND', `${kind} ${name} is not mounted at ${base} (mount it as a volume there)`);
      if (e instanceof SignetError) throw e;
      throw new SignetError('IO', `${kind} ${name} at ${base}: ${(e as Error).message}`);
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.stat(p);
    return true;
  } catch {
    return false;
  }
}

async function readOnce(base: string): Promise<Map<string, Buffer>> {
  let data: string;
  try {
    data = await fs.realpath(join(base, '..data'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await fs.stat(base); // ENOENT here: not mounted at all
    data = base;
  }
  const names = (await fs.readdir(data)).filter((n) => !n.startsWith('.')).sort();
  // All at once: the shorter the read, the less often a swap deletes the version under it.
  const values = await Promise.all(names.map((n) => readKey(join(data, n), `${base}/${n}`)));
  const out = new Map<string, Buffer>();
  names.forEach((n, i) => {
    if (values[i]) out.set(n, values[i]);
  });
  return out;
}

async function readKey(p: string, shown: string): Promise<Buffer | undefined> {
  const fh = await fs.open(p, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    // The API server keeps a Secret or ConfigMap under 1 MiB.
    if (st.size > MAX_BYTES) throw new SignetError('TOO_LARGE', `${shown}: ${st.size} bytes exceeds ${MAX_BYTES}`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
