/** `signet log fsck`: the real CLI over a real embedded log's data directory. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openLog } from '../../src/server/log/index.js';
import { entriesPath, tilePath } from '../../src/tlog/index.js';
import { runCli } from '../helpers/cli.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'signet-fsck-'));
  dirs.push(d);
  return d;
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

let dir: string;
before(async () => {
  dir = tempDir();
  const log = await openLog({ dataDir: dir });
  try {
    await Promise.all(Array.from({ length: 1000 }, (_, i) => log.append({ body: Buffer.from(`entry ${i}`), indexKeys: [] })));
  } finally {
    await log.close();
  }
});

test('log fsck: a clean log passes, in text and JSON', async () => {
  const text = await runCli(['log', 'fsck', '--data-dir', dir]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Checked 6 tiles and entry bundles \(1000 entries\) .* tree size 1000/);
  assert.match(text.stdout, /Checkpoint signature: verified\./);
  assert.match(text.stdout, /^OK: every file matches/m);
  const json = await runCli(['log', 'fsck', '--data-dir', dir, '-o', 'json']);
  assert.equal(json.code, 0, json.stderr);
  const r = JSON.parse(json.stdout);
  assert.equal(r.ok, true);
  assert.equal(r.treeSize, 1000);
  assert.deepEqual(r.problems, []);
});

test('log fsck: a flipped byte and a deleted tile are named, with a non-zero exit', async () => {
  const bad = tempDir();
  const log = await openLog({ dataDir: bad });
  try {
    await Promise.all(Array.from({ length: 600 }, (_, i) => log.append({ body: Buffer.from(`entry ${i}`), indexKeys: [] })));
  } finally {
    await log.close();
  }
  const bundle = join(bad, 'tiles', entriesPath(0));
  const b = readFileSync(bundle);
  b[b.length - 1]! ^= 1;
  writeFileSync(bundle, b);
  rmSync(join(bad, 'tiles', tilePath(0, 1)));
  const text = await runCli(['log', 'fsck', '--data-dir', bad]);
  assert.equal(text.code, 1);
  assert.ok(text.stdout.includes(`PROBLEM ${bundle}: holds an entry 255 that does not match its leaf hash`), text.stdout);
  assert.ok(text.stdout.includes(`PROBLEM ${join(bad, 'tiles', tilePath(0, 1))}: is missing`), text.stdout);
  assert.doesNotMatch(text.stdout, /^OK/m);
  assert.match(text.stderr, /^Error: 2 problem\(s\) in the log in .*; restore the files named from a backup\n$/);
  const json = await runCli(['log', 'fsck', '--data-dir', bad, '--output', 'json']);
  assert.equal(json.code, 1);
  const r = JSON.parse(json.stdout);
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.problems.map((p: { file: string }) => p.file),
    [join(bad, 'tiles', tilePath(0, 1)), bundle],
  );
});

test('log fsck: usage errors and --help examples', async () => {
  const none = await runCli(['log', 'fsck']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /log fsck needs --data-dir DIR/);
  const empty = await runCli(['log', 'fsck', '--data-dir', tempDir()]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /holds no embedded log/);
  const help = await runCli(['log', 'fsck', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n {2}signet log fsck --data-dir /);
});
