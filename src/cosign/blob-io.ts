/**
 * Reading what blob signing and verification work on, from user paths: the blob itself (`-` is standard
 * input), its digests in one streaming pass, bundle and signature files (size-capped), the `--signature`
 * value (file or base64), and the `sha256:<hex>` digest-only target. Verification itself stays pure
 * (verify-blob.ts); this module is its I/O.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, ioError, readFileLimited } from '../fsutil.js';
import { decodeSignatureInput, type HashAlg } from '../sigstore/index.js';

/** The largest bundle file read (FILE_LIMITS.bundle); kept as an export for library callers. */
export const MAX_BUNDLE_BYTES = FILE_LIMITS.bundle;

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** The whole blob (`-` is stdin). Needed for signing: a Signer takes the data, not a digest. */
export async function readBlob(path: string): Promise<Buffer> {
  try {
    return path === '-' ? await readStdin() : await fs.readFile(path);
  } catch (e) {
    throw ioError(path === '-' ? 'standard input' : path, e);
  }
}

/** Digests of a file in one streaming pass, so verifying a large file never holds it in memory. */
export async function digestFile(path: string, algs: Iterable<HashAlg>): Promise<Partial<Record<HashAlg, Buffer>>> {
  const hashes = [...new Set(algs)].map((a) => [a, createHash(a)] as const);
  try {
    const input = path === '-' ? process.stdin : createReadStream(path);
    for await (const chunk of input) for (const [, h] of hashes) h.update(chunk as Buffer);
  } catch (e) {
    throw ioError(path === '-' ? 'standard input' : path, e);
  }
  return Object.fromEntries(hashes.map(([a, h]) => [a, h.digest()]));
}

/** A bundle, statement, predicate or signature file, read whole; refused from its size when over `limit`. */
export function readSmallFile(path: string, what: string, limit: number = FILE_LIMITS.bundle): Promise<Buffer> {
  return readFileLimited(path, limit, `${what} ${path}`);
}

/** `--signature`: a file holding the signature, or the base64 signature itself. */
export async function readSignatureFlag(value: string): Promise<Buffer> {
  let st;
  try {
    st = await fs.stat(value);
  } catch {
    st = undefined;
  }
  if (st?.isFile()) return decodeSignatureInput(await readSmallFile(value, 'signature file', FILE_LIMITS.small));
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(value) && value.length >= 16) return decodeSignatureInput(Buffer.from(value));
  throw new SignetError('IO', `signature ${value}: no such file, and not a base64 signature`);
}

/** `sha256:<hex>` names a digest only when no file of that name exists. */
export async function artifactTarget(target: string): Promise<Buffer | undefined> {
  let artifactDigest: Buffer | undefined;
  if (target !== '-') {
    const exists = await fs.stat(target).then(
      (s) => s,
      () => undefined,
    );
    if (!exists) {
      const m = /^sha256:([0-9a-fA-F]{64})$/.exec(target);
      if (!m) throw new SignetError('IO', `${target}: no such file`);
      artifactDigest = Buffer.from(m[1]!, 'hex');
    } else if (exists.isDirectory()) {
      throw new SignetError('IO', `${target}: is a directory`);
    }
  }
  return artifactDigest;
}
