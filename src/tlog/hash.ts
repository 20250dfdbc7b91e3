/**
 * RFC 6962 §2.1 Merkle tree hashing (SHA-256). These are the hot functions of the log server: a scratch
 * buffer plus the one-shot `crypto.hash` avoids allocating a Hash object and two intermediate buffers
 * per node, which measured ~30% faster than createHash().update().update().digest().
 */
import { hash as oneShotHash } from 'node:crypto';
import { SignetError } from '../errors.js';

export const HASH_SIZE = 32;

/** A 32-byte SHA-256 value. Buffers returned by this module are fresh and never aliased. */
export type Hash = Uint8Array;

/** MTH({}) = SHA-256 of the empty string (RFC 6962 §2.1). */
export const EMPTY_ROOT: Hash = oneShotHash('sha256', new Uint8Array(0), 'buffer');

const nodeScratch = new Uint8Array(1 + 2 * HASH_SIZE);
nodeScratch[0] = 0x01;

/** SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Hash {
  const buf = new Uint8Array(1 + data.length);
  buf.set(data, 1);
  return oneShotHash('sha256', buf, 'buffer');
}

/** SHA-256(0x01 || left || right). Inputs must be 32 bytes (not re-checked here: this is the inner loop). */
export function nodeHash(left: Hash, right: Hash): Hash {
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return oneShotHash('sha256', nodeScratch, 'buffer');
}

/**
 * Reference MTH over a list of leaf hashes, O(n) hashes and O(n) memory. Pairs adjacent hashes level by
 * level, carrying an odd last node up unchanged — equal to RFC 6962's split at the largest power of two.
 */
export function rootFromLeafHashes(hashes: readonly Hash[]): Hash {
  if (hashes.length === 0) return Buffer.from(EMPTY_ROOT);
  let level: Hash[] = hashes.slice();
  while (level.length > 1) {
    const next: Hash[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}

/** Throws a TLOG error unless `h` is exactly 32 bytes. */
export function checkHash(h: unknown, what: string): asserts h is Hash {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    const got = h instanceof Uint8Array ? `${h.length} bytes` : typeof h;
    throw new SignetError('TLOG', `${what} must be a ${HASH_SIZE}-byte SHA-256 hash, got ${got}`);
  }
}

/** Constant-time is not needed (all values are public), but length must match too. */
export function hashEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Throws unless `n` is a safe non-negative integer (tree sizes and indices are uint64 on the wire). */
export function checkSize(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new SignetError('TLOG', `${what} must be a non-negative integer below 2^53, got ${String(n)}`);
  }
}
