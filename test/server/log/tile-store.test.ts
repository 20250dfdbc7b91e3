/**
 * tile-store.ts reads full tiles and bundles from disk through the native addon's readSmallFile (one
 * call for the read and the file's SHA-256) when it is built, and through node:fs otherwise: both
 * routes serve the files' bytes, refuse a file changed since its check by its digest, and answer a
 * deleted one with STORAGE_CORRUPT (a bare 500 over HTTP, the server's log line naming the file).
 */
import assert from 'node:assert/strict';
import { readFileSync, unlinkSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isSignetError } from '../../../src/errors.js';
import { nativeCrypto, type NativeCrypto } from '../../../src/native.js';
import { openLog } from '../../../src/server/log/index.js';
import { startServer } from '../../../src/server/serve.js';
import { entriesPath, tilePath } from '../../../src/tlog/index.js';
import { file, flip, logFixture } from './log-files.js';

/** 24 full tiles and bundles and a partial one. */
const SIZE = 24 * 256 + 40;
const entry = (i: number): Buffer => Buffer.from(`tile-store entry ${i}`);
const { tempDir, copy: copyOfLog } = logFixture('signet-tile-store-', SIZE, 2048, entry);

const changedSince = (path: string) => (e: unknown) =>
  isSignetError(e, 'STORAGE_CORRUPT') && e.message.includes(path) && /changed since it was written or checked/.test(e.message);

/** Opens the log in `dir` keeping only two checked tiles in memory, so that reads come from the files again. */
function openEvicting(dir: string) {
  return openLog({ dataDir: dir, cachedTiles: 2 });
}

/** Runs `fn` with some of the addon's functions replaced, or with no addon at all (null: as SIGNET_NATIVE=0). */
async function withAddon(replace: Partial<NativeCrypto> | null, fn: () => Promise<void>): Promise<void> {
  const saved = nativeCrypto.addon;
  nativeCrypto.addon = replace === null || !saved ? undefined : { ...saved, ...replace };
  try {
    await fn();
  } finally {
    nativeCrypto.addon = saved;
  }
}

/** Why the native route is not tested here, if it is not. */
const NO_NATIVE = (!nativeCrypto.addon && 'the native addon is not built') || (process.platform === 'win32' && 'the addon reads files on POSIX only');

const ROUTES = [
  { name: 'native addon', native: true },
  { name: 'node:fs (no addon)', native: false },
] as const;

describe('tile store reads', () => {
  it('go through the addon in one call that also hashes the file (an entry read: one call to its entry), when the addon is built', { skip: NO_NATIVE }, async () => {
    const real = nativeCrypto.addon!;
    const calls: { path: string; digest: boolean }[] = [];
    const entryCalls: { path: string; j: number }[] = [];
    const dir = copyOfLog();
    await withAddon(
      {
        readSmallFile: (path, max, digestOut) => {
          calls.push({ path, digest: digestOut !== undefined });
          return real.readSmallFile!(path, max, digestOut);
        },
        readBundleEntry: (path, j, into, firstRead) => {
          entryCalls.push({ path, j });
          return real.readBundleEntry!(path, j, into, firstRead);
        },
      },
      async () => {
        const log = await openEvicting(dir);
        try {
          calls.length = 0;
          // Tile 5 is older than the 16 newest checked on start: its first read is compared with its stored digest.
          const t5 = file(dir, tilePath(0, 5));
          assert.ok((await log.tile(0, 5))!.equals(readFileSync(t5)));
          assert.ok(calls.some((c) => c.path === t5 && c.digest), 'the first read of tile 5 took its digest from the read');
          for (let k = 10; k < 14; k++) await log.tile(0, k);
          calls.length = 0;
          assert.ok((await log.tile(0, 5))!.equals(readFileSync(t5)));
          assert.deepEqual(calls, [{ path: t5, digest: true }], 'tile 5 read again from its file, compared by the digest of that read');
          calls.length = 0;
          const b6 = file(dir, entriesPath(6));
          assert.ok((await log.entryBundle(6))!.equals(readFileSync(b6)));
          assert.ok(calls.some((c) => c.path === b6 && c.digest));
          assert.ok((await log.entryByIndex(7 * 256 + 200))!.body.equals(entry(7 * 256 + 200)));
          assert.deepEqual(entryCalls, [{ path: file(dir, entriesPath(7)), j: 200 }]);
        } finally {
          await log.close();
        }
      },
    );
  });

  for (const route of ROUTES) {
    it(`through ${route.name}: serve the files' bytes and refuse a tile or bundle changed since its check`, { skip: route.native && NO_NATIVE }, async () => {
      const dir = copyOfLog();
      await withAddon(route.native ? {} : null, async () => {
        const log = await openEvicting(dir);
        try {
          const t3 = file(dir, tilePath(0, 3));
          const b4 = file(dir, entriesPath(4));
          assert.ok((await log.tile(0, 3))!.equals(readFileSync(t3)));
          assert.ok((await log.entryBundle(4))!.equals(readFileSync(b4)));
          assert.ok((await log.entryByIndex(4 * 256 + 17))!.body.equals(entry(4 * 256 + 17)));
          for (let k = 10; k < 14; k++) await log.tile(0, k);
          flip(t3, 3 * 32 + 1);
          flip(b4, 10);
          await assert.rejects(log.tile(0, 3), changedSince(t3));
          await assert.rejects(log.entryBundle(4), changedSince(b4));
          // Untouched files are still served.
          assert.ok((await log.tile(0, 7))!.equals(readFileSync(file(dir, tilePath(0, 7)))));
        } finally {
          await log.close();
        }
      });
    });

    it(`through ${route.name}: a full tile or bundle deleted while the server runs is a bare 500 over HTTP, logged as missing`, { skip: route.native && NO_NATIVE }, async () => {
      const dir = copyOfLog();
      await withAddon(route.native ? {} : null, async () => {
        const lines: string[] = [];
        const srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: { write: (l: string) => lines.push(l) } });
        try {
          const t2 = file(dir, tilePath(0, 2));
          const b1 = file(dir, entriesPath(1));
          unlinkSync(t2);
          unlinkSync(b1);
          for (const [url, path] of [
            [`${srv.url}/api/v2/tile/0/002`, t2],
            [`${srv.url}/api/v2/tile/entries/001`, b1],
          ] as const) {
            const res = await fetch(url);
            assert.equal(res.status, 500, url);
            assert.deepEqual(await res.json(), { code: 500, message: 'internal server error' });
            assert.ok(lines.some((l) => l.includes('"level":"error"') && l.includes(path) && l.includes('is missing')), `a log line says ${path} is missing`);
          }
          const ok = await fetch(`${srv.url}/api/v2/tile/0/008`);
          assert.equal(ok.status, 200);
          assert.ok(Buffer.from(await ok.arrayBuffer()).equals(readFileSync(file(dir, tilePath(0, 8)))));
        } finally {
          await srv.close();
        }
      });
    });
  }
});

describe('tile cache', () => {
  it('holds as many checked full tiles as the log was opened with, the most recently read', async () => {
    const dir = copyOfLog();
    const log = await openLog({ dataDir: dir, cachedTiles: 8 });
    try {
      const before = log.metrics().tileCache!;
      for (let k = 0; k < 12; k++) assert.ok(await log.tile(0, k));
      const read = log.metrics().tileCache!;
      assert.equal(read.capacity, 8);
      assert.equal(read.tiles, 8);
      assert.equal(read.hits + read.misses - before.hits - before.misses, 12, 'every read counted once');
      assert.ok(await log.tile(0, 10));
      const again = log.metrics().tileCache!;
      assert.deepEqual([again.hits, again.misses], [read.hits + 1, read.misses], 'a tile still held is a hit');
      // Files gone: a tile still held is served from memory, one evicted (the 9th most recent read, or older) is not.
      for (const k of [3, 4, 11]) unlinkSync(file(dir, tilePath(0, k)));
      assert.ok(await log.tile(0, 11));
      assert.ok(await log.tile(0, 4));
      await assert.rejects(log.tile(0, 3), (e) => isSignetError(e, 'STORAGE_CORRUPT') && e.message.includes(file(dir, tilePath(0, 3))));
    } finally {
      await log.close();
    }
  });

  it('refuses a size below one tile, and a PostgreSQL log (whose tiles are not files)', async () => {
    for (const n of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(openLog({ dataDir: copyOfLog(), cachedTiles: n }), (e) => isSignetError(e, 'USAGE') && /tile cache must hold at least one tile/.test(e.message), String(n));
    }
    await assert.rejects(openLog({ dataDir: tempDir(), storage: 'postgres://127.0.0.1:1/none', cachedTiles: 8 }), (e) => isSignetError(e, 'USAGE') && /embedded storage/.test(e.message));
  });
});
