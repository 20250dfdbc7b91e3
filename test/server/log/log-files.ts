/** For tests that damage an embedded log's files on disk. */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { openLog } from '../../../src/server/log/index.js';

/**
 * For the test file that calls it: an embedded log of `size` entries (`entry(i)`, appended `batch` at a
 * time, each batch concurrently) built once before its tests, and temporary directories (prefix
 * `prefix`) removed after them. `copy()` gives a test a log of its own to damage, `tempDir()` an empty
 * directory.
 */
export function logFixture(prefix: string, size: number, batch: number, entry: (i: number) => Buffer): { tempDir(): string; copy(): string } {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  let fixture = '';
  before(async () => {
    fixture = tempDir();
    const log = await openLog({ dataDir: fixture });
    try {
      for (let at = 0; at < size; at += batch) {
        await Promise.all(Array.from({ length: Math.min(batch, size - at) }, (_, j) => log.append({ body: entry(at + j), indexKeys: [] })));
      }
      assert.equal((await log.checkpoint()).size, size);
    } finally {
      await log.close();
    }
  });
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const copy = (): string => {
    const d = tempDir();
    cpSync(fixture, d, { recursive: true });
    return d;
  };
  return { tempDir, copy };
}

/** The path of tile or bundle `rel` (a C2SP path such as tile/0/001) in the log at `dir`. */
export const file = (dir: string, rel: string): string => join(dir, 'tiles', rel);

/** Flips one bit of the byte at `at` (default: the last byte, inside the last entry's body or hash). */
export function flip(path: string, at?: number): void {
  const b = readFileSync(path);
  b[at ?? b.length - 1]! ^= 0x01;
  writeFileSync(path, b);
}
