/**
 * Bulk import (server/log/import.ts, `signet log import`): entries appended in the source's order reach
 * the same tree, are found by index, leaf hash and search key, resume after an interruption (also a
 * SIGKILL mid-chunk), and a log that is not the source's prefix, or a source whose checkpoint does not
 * verify, is refused with nothing written.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SignetError, isSignetError } from '../../../src/errors.js';
import { fsckLog } from '../../../src/server/log/fsck.js';
import { fileSource, importLog, indexKeysOfBody, urlSource } from '../../../src/server/log/import.js';
import { canonicalizeProposedEntry } from '../../../src/rekor/index.js';
import { hashedrekordV001 } from '../../../src/sigstore/rekor-client.js';
import { EmbeddedStorage } from '../../../src/server/log/embedded.js';
import { pickMerge } from '../../../src/server/log/search-index.js';
import { openLog } from '../../../src/server/log/index.js';
import { startServer } from '../../../src/server/serve.js';
import { entriesPath, leafHash, rootFromLeafHashes, tilePath, toHex } from '../../../src/tlog/index.js';
import { runCli } from '../../helpers/cli.js';
import { body, checkCheckpoint, checkIncluded, checkTilesMatch } from './suite.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'signet-import-'));
const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'import-child.js');

/** A file of `n` entries (base64 body and one search key each, the key of every 10th entry shared). */
function entriesFile(n: number, tag = 'imp'): { path: string; bodies: Buffer[] } {
  const bodies = Array.from({ length: n }, (_, i) => body(tag, i));
  const path = join(tmp(), 'entries.txt');
  writeFileSync(path, bodies.map((b, i) => `${b.toString('base64')} key-${i}${i % 10 === 0 ? ' Shared' : ''}\n`).join(''));
  return { path, bodies };
}

const rootOf = (bodies: Buffer[]): string => toHex(rootFromLeafHashes(bodies.map((b) => leafHash(b))));

test('import: a file of entries becomes the same tree, every entry found by index, leaf hash and search key', async () => {
  const { path, bodies } = entriesFile(1000);
  const dir = tmp();
  const report = await importLog({ dataDir: dir, source: fileSource(path, 100), chunk: 300 });
  assert.equal(report.imported, 1000);
  assert.equal(report.treeSize, 1000);
  assert.equal(report.rootHash, rootOf(bodies));
  const log = await openLog({ dataDir: dir });
  try {
    const cp = await log.checkpoint();
    checkCheckpoint(log, cp);
    assert.equal(toHex(cp.rootHash), rootOf(bodies));
    await checkTilesMatch(log, cp);
    for (const i of [0, 1, 255, 256, 299, 300, 511, 999]) {
      assert.ok((await log.entryByIndex(i))!.body.equals(bodies[i]!));
      assert.equal((await log.entryByLeafHash(Buffer.from(leafHash(bodies[i]!))))!.index, i);
      assert.deepEqual(await log.search(`key-${i}`), [i]);
      await checkIncluded(log, i, Buffer.from(leafHash(bodies[i]!)), cp);
    }
    assert.deepEqual(await log.search('shared'), Array.from({ length: 100 }, (_, j) => j * 10));
    // The log goes on taking writes after the import.
    const r = await log.append({ body: Buffer.from('after import'), indexKeys: ['after'] });
    assert.equal(r.status, 'created');
    assert.equal(r.entry.index, 1000);
    const dup = await log.append({ body: bodies[500]!, indexKeys: [] });
    assert.equal(dup.status, 'duplicate');
    assert.equal(dup.entry.index, 500);
  } finally {
    await log.close();
  }
  const fsck = await fsckLog(dir, {});
  assert.deepEqual(fsck.problems, []);
});

test('import: returns with the search index merged (no merge due), so a server starts on a compact index', async () => {
  // 60 chunks make 60 index runs; four runs of one tier make a merge due. Closing the log cuts a merge
  // in progress short, so an import that did not wait left merges for the server's first minutes.
  const { path } = entriesFile(3000, 'compact');
  const dir = tmp();
  let compacting = 0;
  const report = await importLog({ dataDir: dir, source: fileSource(path, 50), chunk: 50, compacting: () => compacting++ });
  assert.equal(report.treeSize, 3000);
  assert.equal(compacting, 1);
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'), { readOnly: true });
  let sizes: number[];
  try {
    sizes = (db.prepare('SELECT lo, hi FROM index_runs ORDER BY lo').all() as { lo: number; hi: number }[]).map((r) => r.hi - r.lo);
  } finally {
    db.close();
  }
  assert.equal(sizes.reduce((a, b) => a + b, 0), 3000, `runs cover every entry: ${sizes.join(',')}`);
  assert.equal(pickMerge(sizes, 8192), null, `no merge due among runs of ${sizes.join(',')}`);
  const log = await openLog({ dataDir: dir });
  try {
    assert.deepEqual(await log.search('key-2999'), [2999]);
    assert.deepEqual(await log.search('key-0'), [0]);
  } finally {
    await log.close();
  }
});

test('import: resumes after the entries already imported; a log that is not the source prefix is refused unchanged', async () => {
  const { path, bodies } = entriesFile(700);
  const half = join(tmp(), 'half.txt');
  writeFileSync(half, bodies.slice(0, 333).map((b) => b.toString('base64') + '\n').join(''));
  const dir = tmp();
  assert.equal((await importLog({ dataDir: dir, source: fileSource(half) })).treeSize, 333);
  const again = await importLog({ dataDir: dir, source: fileSource(path), chunk: 128 });
  assert.equal(again.resumedAt, 333);
  assert.equal(again.imported, 367);
  assert.equal(again.rootHash, rootOf(bodies));

  const other = entriesFile(400, 'other');
  await assert.rejects(importLog({ dataDir: dir, source: fileSource(other.path) }), (e: unknown) => isSignetError(e) && e.code === 'TLOG' && /not the first entries/.test(e.message));
  const log = await openLog({ dataDir: dir });
  try {
    assert.equal(toHex((await log.checkpoint()).rootHash), rootOf(bodies));
  } finally {
    await log.close();
  }
});

test('import: a bad line is refused with its line number; the entries before it stay, and a rerun resumes', async () => {
  const { bodies } = entriesFile(10);
  const path = join(tmp(), 'bad.txt');
  writeFileSync(path, bodies.slice(0, 5).map((b) => b.toString('base64') + '\n').join('') + 'not*base64\n');
  const dir = tmp();
  await assert.rejects(importLog({ dataDir: dir, source: fileSource(path, 2), chunk: 2 }), (e: unknown) => isSignetError(e) && e.code === 'MALFORMED' && /line 6/.test(e.message));
  const good = join(tmp(), 'good.txt');
  writeFileSync(good, bodies.map((b) => b.toString('base64') + '\n').join(''));
  const r = await importLog({ dataDir: dir, source: fileSource(good) });
  assert.equal(r.resumedAt, 4);
  assert.equal(r.rootHash, rootOf(bodies));
});

test('import: killed (SIGKILL) mid-import, the log opens consistent and a rerun completes it', async () => {
  const { path, bodies } = entriesFile(6000);
  const dir = tmp();
  const child = spawn(process.execPath, [CHILD, dir, path, '500'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // Killed while the next chunk is being committed.
      if (/committed 1000\n/.test(out)) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => resolve());
    child.on('error', reject);
  });
  await new Promise((r) => child.once('exit', r).once('close', r));
  assert.ok(!out.includes('done'), 'the import was killed before it finished');
  const log = await openLog({ dataDir: dir });
  let size: number;
  try {
    const cp = await log.checkpoint();
    size = cp.size;
    assert.ok(size >= 1000 && size < 6000 && size % 500 === 0, `the log holds whole chunks (${size})`);
    assert.equal(toHex(cp.rootHash), rootOf(bodies.slice(0, size)));
    await checkTilesMatch(log, cp);
  } finally {
    await log.close();
  }
  const r = await importLog({ dataDir: dir, source: fileSource(path) });
  assert.equal(r.resumedAt, size);
  assert.equal(r.rootHash, rootOf(bodies));
  assert.deepEqual((await fsckLog(dir, {})).problems, []);
});

test('import: from a log by URL (tiles), checked against its signed checkpoint; a wrong key is refused', async () => {
  const { path, bodies } = entriesFile(800);
  const srcDir = tmp();
  await importLog({ dataDir: srcDir, source: fileSource(path) });
  const srv = await startServer({ dataDir: srcDir, listen: '127.0.0.1:0', requestLog: false });
  try {
    const dir = tmp();
    const key = createPrivateKey((await import('node:fs')).readFileSync(join(srcDir, 'log.key')));
    const src = await urlSource(srv.url, { publicKey: key });
    assert.equal(src.checkpoint!.size, 800);
    const r = await importLog({ dataDir: dir, source: src, chunk: 300 });
    assert.equal(r.sourceSize, 800);
    assert.equal(r.rootHash, rootOf(bodies));
    // Tiles carry no search keys, and these bodies are not Rekor entries to derive them from.
    assert.equal(r.withoutKeys, 800);
    const log = await openLog({ dataDir: dir });
    try {
      assert.equal((await log.entryByLeafHash(Buffer.from(leafHash(bodies[799]!))))!.index, 799);
    } finally {
      await log.close();
    }
    const wrong = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    await assert.rejects(urlSource(srv.url, { publicKey: wrong }), (e: unknown) => isSignetError(e));
    // Through the CLI, resuming a partial copy made from a file.
    const dir2 = tmp();
    const part = join(tmp(), 'part.txt');
    writeFileSync(part, bodies.slice(0, 100).map((b) => b.toString('base64') + '\n').join(''));
    await importLog({ dataDir: dir2, source: fileSource(part) });
    const res = await runCli(['log', 'import', '--data-dir', dir2, '--from', srv.url, '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const rep = JSON.parse(res.stdout) as { resumedAt: number; treeSize: number; rootHash: string };
    assert.deepEqual([rep.resumedAt, rep.treeSize, rep.rootHash], [100, 800, rootOf(bodies)]);
    assert.match(res.stderr, /trusting the public key/);
  } finally {
    await srv.close();
  }
});

test('log import: usage errors are one line and exit non-zero', async () => {
  const r = await runCli(['log', 'import', '--from', 'x.txt']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--data-dir/);
  const r2 = await runCli(['log', 'import', '--data-dir', tmp(), '--from', join(tmp(), 'missing.txt')]);
  assert.notEqual(r2.code, 0);
  assert.match(r2.stderr, /cannot read/);
});

test('import: search keys of a Rekor v1 hashedrekord body are derived from it as the log would index it', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const digest = createHash('sha256').update('artifact').digest();
  const signature = sign('sha256', Buffer.from('artifact'), privateKey);
  const pem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
  const entry = canonicalizeProposedEntry(hashedrekordV001({ hashAlg: 'sha256', digest, signature, verifierPem: pem }));
  assert.ok(entry.indexKeys.length >= 2);
  assert.deepEqual(indexKeysOfBody(entry.body), entry.indexKeys);
  assert.equal(indexKeysOfBody(Buffer.from('{"not":"an entry"}')), undefined);
});

test('import: a chunk the source\'s consistency proof does not vouch for is not committed', async () => {
  const { bodies } = entriesFile(1000);
  const dir = tmp();
  const seen: number[] = [];
  const source = {
    name: 'a forked source',
    checkpoint: { size: 1000, rootHash: Buffer.from(rootFromLeafHashes(bodies.map((b) => leafHash(b)))) },
    async *read(from: number) {
      yield bodies.slice(from).map((b) => ({ body: b, indexKeys: [] }));
    },
    async consistency(size: number) {
      seen.push(size);
      if (size > 500) throw new SignetError('TLOG', 'no proof for that tree');
    },
  };
  await assert.rejects(importLog({ dataDir: dir, source, chunk: 250 }), (e: unknown) => isSignetError(e) && /no proof/.test(e.message));
  assert.deepEqual(seen, [250, 500, 750]);
  const log = await openLog({ dataDir: dir });
  try {
    const cp = await log.checkpoint();
    assert.equal(cp.size, 500);
    await checkTilesMatch(log, cp);
  } finally {
    await log.close();
  }
});

test('bulk append: a chunk\'s index run is built while the next chunk is prepared, its entries found meanwhile', async () => {
  const dir = tmp();
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const storage = await EmbeddedStorage.open(dir, key);
  try {
    const chunk = (from: number): { leafHash: Buffer; body: Buffer; indexKeys: string[] }[] =>
      Array.from({ length: 500 }, (_, j) => ({ leafHash: Buffer.from(leafHash(body('bulk', from + j))), body: body('bulk', from + j), indexKeys: [`bulk-${from + j}`] }));
    await storage.bulkAppend(chunk(0));
    // Returned before its run is built (the import goes on reading meanwhile); served from memory.
    assert.equal(storage.indexedSize, 0);
    assert.equal((await storage.entryByLeafHash(Buffer.from(leafHash(body('bulk', 7)))))!.index, 7);
    assert.deepEqual(await storage.search('bulk-499'), [499]);
    // The next chunk waits for that run first: at most two chunks' rows in memory.
    await storage.bulkAppend(chunk(500));
    assert.equal(storage.indexedSize, 500);
    await storage.flushIndex();
    assert.equal(storage.indexedSize, 1000);
    assert.equal((await storage.entryByLeafHash(Buffer.from(leafHash(body('bulk', 999)))))!.index, 999);
    assert.deepEqual(await storage.search('bulk-7'), [7]);
  } finally {
    await storage.close();
  }
  // The chunks' commits stored the digests of the files they completed: three bundles, three level-0 tiles.
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(join(dir, 'log.sqlite'), { readOnly: true });
  try {
    const rows = db.prepare('SELECT kind, tile, digest FROM file_digests ORDER BY kind, tile').all() as { kind: number; tile: number; digest: Uint8Array }[];
    assert.deepEqual(rows.map((r) => `${r.kind}/${r.tile}`), ['-1/0', '-1/1', '-1/2', '0/0', '0/1', '0/2']);
    for (const r of rows) {
      const rel = r.kind === -1 ? entriesPath(r.tile) : tilePath(r.kind, r.tile);
      assert.ok(createHash('sha256').update(readFileSync(join(dir, 'tiles', rel))).digest().equals(r.digest), rel);
    }
  } finally {
    db.close();
  }
});
