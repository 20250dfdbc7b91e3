/**
 * The addon's file reads (native/log_crypto.c) against node:fs and node:crypto. readSmallFile: the same
 * bytes and SHA-256, in a buffer that is its own memory, null above the size limit, and errors that carry
 * the errno code as node:fs's do (the log maps ENOENT on a full file to STORAGE_CORRUPT). readBundleEntry:
 * the entry's place in the bundle, found from only as much of the file as it needs.
 */
import assert from 'node:assert/strict';
import { hash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { encodeEntryBundle } from '../src/tlog/index.js';
import { nativeCrypto } from '../src/native.js';

const read = nativeCrypto.addon?.readSmallFile;
const dir = mkdtempSync(join(tmpdir(), 'signet-native-read-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The error node:fs gives for the same path (its shape is what callers test). */
function fsError(path: string): NodeJS.ErrnoException {
  try {
    readFileSync(path);
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  throw new Error(`${path} was readable`);
}

// The addon has readSmallFile wherever it builds, except on Windows.
describe('native readSmallFile', { skip: (!nativeCrypto.addon && `the native addon is not built (${nativeCrypto.why})`) || (process.platform === 'win32' && 'POSIX only') }, () => {
  it('reads a file whole, as node:fs does, with its SHA-256 when asked', () => {
    for (const size of [0, 1, 32, 8192, 8193, 100_000]) {
      const path = join(dir, `f${size}`);
      const bytes = randomBytes(size);
      writeFileSync(path, bytes);
      const digest = Buffer.alloc(32);
      const got = read!(path, 256 * 1024, digest);
      assert.ok(got && Buffer.isBuffer(got));
      assert.ok(got.equals(readFileSync(path)), `bytes of a file of ${size}`);
      assert.ok(digest.equals(hash('sha256', bytes, 'buffer') as Buffer), `digest of a file of ${size}`);
      // Without a digest buffer, the same bytes.
      assert.ok(read!(path, 256 * 1024)!.equals(bytes));
    }
  });

  it('returns a buffer of its own memory (never a pool slice), a new one per read', () => {
    const path = join(dir, 'tile');
    writeFileSync(path, randomBytes(8192));
    const a = read!(path, 8192)!;
    const b = read!(path, 8192)!;
    for (const x of [a, b]) {
      assert.equal(x.byteOffset, 0);
      assert.equal(x.byteLength, x.buffer.byteLength);
    }
    assert.notEqual(a.buffer, b.buffer);
    a[0] = a[0]! ^ 1;
    assert.notEqual(a[0], b[0]);
  });

  it('returns null for a file larger than max (max itself is read), leaving digestOut alone', () => {
    const path = join(dir, 'big');
    writeFileSync(path, randomBytes(5000));
    const digest = Buffer.alloc(32, 7);
    assert.equal(read!(path, 4999, digest), null);
    assert.ok(digest.equals(Buffer.alloc(32, 7)));
    assert.equal(read!(path, 5000)!.length, 5000);
    truncateSync(path, 10);
    assert.equal(read!(path, 4999)!.length, 10);
  });

  it('throws an Error with the errno code, errno, syscall and path of node:fs, and node:fs`s message', () => {
    const missing = join(dir, 'no', 'such', 'file');
    let err: NodeJS.ErrnoException | undefined;
    try {
      read!(missing, 1024, Buffer.alloc(32));
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    assert.ok(err instanceof Error);
    const want = fsError(missing);
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.errno, want.errno);
    assert.equal(err.syscall, 'open');
    assert.equal(err.path, missing);
    assert.equal(err.message, want.message);
    // A directory opens, and its read fails as node:fs's does.
    assert.throws(
      () => read!(dir, 1 << 20),
      (e: NodeJS.ErrnoException) => e.code === 'EISDIR' && e.code === fsError(dir).code && e.syscall === 'read' && e.path === dir,
    );
  });

  it('refuses wrong arguments with a TypeError and a path holding a NUL byte', () => {
    assert.equal(typeof read, 'function');
    const path = join(dir, 'f1');
    assert.throws(() => read!(path, 1024, Buffer.alloc(31)), TypeError);
    assert.throws(() => read!(path, 1024, [1, 2] as unknown as Uint8Array), TypeError);
    assert.throws(() => read!(42 as unknown as string, 1024), TypeError);
    assert.throws(() => read!(path, Number.NaN), TypeError);
    assert.throws(() => read!(`${path}\0x`, 1024), TypeError);
  });
});

describe('native readBundleEntry', { skip: (!nativeCrypto.addon && `the native addon is not built (${nativeCrypto.why})`) || (process.platform === 'win32' && 'POSIX only') }, () => {
  const readEntry = nativeCrypto.addon?.readBundleEntry;
  /** Entries of varied sizes, some far larger than the first read. */
  const entries = Array.from({ length: 256 }, (_, i) => randomBytes(i % 37 === 5 ? 20_000 + i : 100 + ((i * 71) % 900)));
  const bundle = Buffer.from(encodeEntryBundle(entries));
  /** Where entry j's length prefix is in the bundle. */
  const prefixAt = (j: number): number => entries.slice(0, j).reduce((at, e) => at + 2 + e.length, 0);

  it('finds every entry of a bundle, wholly read into the buffer, from any first read size', () => {
    assert.equal(typeof readEntry, 'function');
    const path = join(dir, 'bundle');
    writeFileSync(path, bundle);
    const into = Buffer.alloc(bundle.length + 10);
    for (const firstRead of [0, 1, 4096, 100_000]) {
      for (let j = 0; j < entries.length; j += j < 10 ? 1 : 7) {
        into.fill(0);
        const at = readEntry!(path, j, into, firstRead);
        assert.equal(at, prefixAt(j), `entry ${j}, first read ${firstRead}`);
        assert.ok(into.subarray(at + 2, at + 2 + entries[j]!.length).equals(entries[j]!), `bytes of entry ${j}`);
      }
    }
  });

  it('reads only as far as it needs: bytes well past the entry are not read', () => {
    const path = join(dir, 'bundle-far');
    writeFileSync(path, bundle);
    const into = Buffer.alloc(bundle.length, 0xee);
    const at = readEntry!(path, 1, into, 0);
    assert.equal(at, prefixAt(1));
    // The first read is 4 KiB, enough for entries 0 and 1: the rest of the buffer is untouched.
    assert.equal(into[bundle.length - 1], 0xee);
    assert.ok(into.subarray(0, 4096).equals(bundle.subarray(0, 4096)));
  });

  it('answers -1 when the entry does not end within the buffer, and -2 - n when the file ends at byte n first', () => {
    const path = join(dir, 'bundle-short');
    writeFileSync(path, bundle);
    const small = Buffer.alloc(prefixAt(6) + 100);
    assert.equal(readEntry!(path, 5, small, 0), prefixAt(5), 'entry 5 ends within the buffer');
    assert.equal(readEntry!(path, 6, small, 0), -1, 'entry 6 (20 KB) does not');
    assert.equal(readEntry!(path, 200, small, 0), -1);
    // Cut inside entry 3, and cut right after entry 2: both end before entry 3 does.
    for (const cut of [prefixAt(3) + 50, prefixAt(3)]) {
      writeFileSync(path, bundle.subarray(0, cut));
      assert.equal(readEntry!(path, 3, Buffer.alloc(bundle.length), 0), -2 - cut, `cut at ${cut}`);
      assert.equal(readEntry!(path, 2, Buffer.alloc(bundle.length), 0), prefixAt(2));
    }
    writeFileSync(path, Buffer.alloc(0));
    assert.equal(readEntry!(path, 0, Buffer.alloc(100), 0), -2);
  });

  it('throws errors with the errno code, and a TypeError for wrong arguments', () => {
    const missing = join(dir, 'no-such-bundle');
    assert.throws(() => readEntry!(missing, 0, Buffer.alloc(10), 0), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.message === fsError(missing).message);
    assert.throws(() => readEntry!(missing, -1, Buffer.alloc(10), 0), TypeError);
    assert.throws(() => readEntry!(missing, 0, 'x' as unknown as Uint8Array, 0), TypeError);
    assert.throws(() => readEntry!(missing, 0, Buffer.alloc(10), Number.NaN), TypeError);
  });
});
