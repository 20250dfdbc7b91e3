/**
 * The optional native addon (native/log_crypto.c): ECDSA verification over a digest, batched signing,
 * Merkle tile expansion and whole reads of small files, by the OpenSSL inside the node binary. Built by `npm ci` (or `npm run build:native`); when it
 * is missing, callers fall back to slower pure-TypeScript routes, so `why` says what happened.
 */
import { createRequire } from 'node:module';

/** An EVP_PKEY held by the addon (see signingKey). */
export type NativeKey = object & { readonly __native: unique symbol };

export interface NativeCrypto {
  verify(spkiDer: Uint8Array, digest: Uint8Array, sigDer: Uint8Array): boolean;
  /** Verdicts 1/0, in order, computed in one thread-pool job. */
  verifyMany(spkis: Uint8Array[], digests: Uint8Array[], sigs: Uint8Array[]): Promise<Uint8Array>;
  signingKey(pkcs8Der: Uint8Array): NativeKey;
  /** Signatures, each prefixed by its 2-byte big-endian length; md '' for Ed25519. */
  signMany(key: NativeKey, md: string, payloads: Uint8Array[]): Promise<Uint8Array>;
  /**
   * X.509 certificates parsed in one thread-pool job: per certificate a status byte, 0 (not answered:
   * parse it with node:crypto) or 1, then for 1 a u16 count and each email (type 1) or URI (type 2)
   * subject alternative name as a type byte, a u16 length and its bytes (see log_crypto.c, "certificates").
   */
  parseCertificates(ders: Uint8Array[]): Promise<Uint8Array>;
  /** RFC 6962 interior levels over 32-byte hashes: level 1, level 2, … concatenated (see tlog ExpandedTile). */
  merkleLevels(hashes: Uint8Array): Buffer;
  /** Thread-pool threads lower their own priority by n (0..19) nice steps before their next job (Linux). */
  setPoolNice(n: number): void;
  /**
   * A file read whole in one call (open, fstat, pread, close) into a Buffer of its own memory (never a
   * pool slice); null when it is larger than `max` bytes. With `digestOut` (32 bytes), the SHA-256 of
   * the bytes read is written there. A failed system call throws an Error like node:fs's (`code`
   * 'ENOENT' etc., `errno`, `syscall`, `path`). Absent on Windows (callers fall back to node:fs).
   */
  readSmallFile?(path: string, max: number, digestOut?: Uint8Array): Buffer | null;
  /**
   * An entry bundle (entries after 2-byte big-endian lengths) read from its start into `into`, in one call,
   * only as far as its entry `j` ends: `firstRead` bytes first, then at least 4 KiB more or as far as
   * entry j's length says, doubling what was read after each read. Returns the offset in `into` of entry
   * j's length prefix (the entry is wholly read); -1 when entry j does not end within `into`; -2 - n when
   * the file ends, at byte n, before entry j does. Errors as readSmallFile's. Absent on Windows.
   */
  readBundleEntry?(path: string, j: number, into: Uint8Array, firstRead: number): number;
}

function load(): { addon?: NativeCrypto; why?: string } {
  if (process.env.SIGNET_NATIVE === '0') return { why: 'SIGNET_NATIVE=0' };
  // The compiled module runs from dist/src, the source (tsx) from src.
  const root = new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url);
  try {
    return { addon: createRequire(import.meta.url)(new URL('native/build/Release/log_crypto.node', root).pathname) as NativeCrypto };
  } catch (e) {
    return { why: `native/build/Release/log_crypto.node did not load (${(e as Error).message.split('\n')[0]}); run npm run build:native` };
  }
}

export const nativeCrypto: { addon?: NativeCrypto; why?: string } = load();

/** Splits a signature blob from signMany into its signatures. */
export function unpackSignatures(blob: Uint8Array, n: number): Buffer[] {
  const out: Buffer[] = [];
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  let at = 0;
  for (let i = 0; i < n; i++) {
    if (at + 2 > b.length) throw new Error('signature batch is truncated');
    const len = b.readUInt16BE(at);
    if (at + 2 + len > b.length) throw new Error('signature batch is truncated');
    out.push(b.subarray(at + 2, at + 2 + len));
    at += 2 + len;
  }
  if (at !== b.length) throw new Error('signature batch has trailing bytes');
  return out;
}
