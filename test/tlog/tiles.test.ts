import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSignetError } from '../../src/errors.js';
import {
  ExpandedTile,
  type Hash,
  MerkleFrontier,
  TileAppender,
  TILE_WIDTH,
  type TileId,
  buildTile,
  consistencyProof,
  consistencyProofNodes,
  decodeEntryBundle,
  encodeEntryBundle,
  entriesPath,
  formatTileIndex,
  hashInTile,
  inclusionProof,
  inclusionProofNodes,
  leafHash,
  parseTilePath,
  partialTiles,
  proofNodeSet,
  rootFromLeafHashes,
  subtreeHash,
  tileForNode,
  tileHashes,
  tileNodeReader,
  tilePath,
  tileWidth,
  tilesForNodes,
  verifyConsistency,
  verifyInclusion,
} from '../../src/tlog/index.js';

const hex = (h: Uint8Array) => Buffer.from(h).toString('hex');
const isTlog = (e: unknown) => isSignetError(e, 'TLOG');
const isMalformed = (e: unknown) => isSignetError(e, 'MALFORMED');

test('tile index path encoding (C2SP tlog-tiles examples)', () => {
  assert.equal(formatTileIndex(1234067), 'x001/x234/067');
  assert.equal(formatTileIndex(5), '005');
  assert.equal(formatTileIndex(0), '000');
  assert.equal(formatTileIndex(1000), 'x001/000');
  assert.equal(formatTileIndex(999), '999');
  assert.equal(formatTileIndex(1234), 'x001/234');
  assert.equal(tilePath(0, 1234), 'tile/0/x001/234');
  assert.equal(tilePath(2, 5, 17), 'tile/2/005.p/17');
  assert.equal(tilePath(1, 0, 256), 'tile/1/000');
  assert.equal(entriesPath(19669), 'tile/entries/x019/669');
  assert.equal(entriesPath(3, 1), 'tile/entries/003.p/1');
  assert.throws(() => tilePath(64, 0), isTlog);
  assert.throws(() => tilePath(0, 0, 0), isTlog);
  assert.throws(() => tilePath(0, 0, 257), isTlog);
  assert.throws(() => tilePath(0, -1), isTlog);
});

test('tile paths parse strictly and round-trip', () => {
  assert.deepEqual(parseTilePath('tile/0/x001/x234/067'), { kind: 'hashes', level: 0, index: 1234067, width: 256 });
  assert.deepEqual(parseTilePath('tile/3/005.p/255'), { kind: 'hashes', level: 3, index: 5, width: 255 });
  assert.deepEqual(parseTilePath('tile/entries/x019/669'), { kind: 'entries', index: 19669, width: 256 });
  assert.deepEqual(parseTilePath('tile/entries/000.p/1'), { kind: 'entries', index: 0, width: 1 });
  for (const [l, n, w] of [[0, 0, 1], [5, 999, 256], [63, 1000, 2], [1, 123456789, 77]] as const) {
    assert.deepEqual(parseTilePath(tilePath(l, n, w)), { kind: 'hashes', level: l, index: n, width: w });
  }
  for (const bad of [
    'tile/0/5', 'tile/0/0005', 'tile/00/005', 'tile/64/005', 'tile/0/001/234', 'tile/0/x001/x234',
    'tile/0/x000/005', 'tile/0/005.p/0', 'tile/0/005.p/256', 'tile/0/005.p/07', 'tile/0/005.p', 'tiles/0/005',
    'tile/0', 'tile/-1/005', 'tile/entries/5', 'tile/0/005/', '/tile/0/005', 'tile/0/x1/005', 'tile/0/005.p/1/2',
  ]) {
    assert.throws(() => parseTilePath(bad), isMalformed, bad);
  }
});

test('tile paths: whatever parses is the one spelling of what it parsed to (random near-miss paths), and every spelling parses', () => {
  const canonical = (p: ReturnType<typeof parseTilePath>): string => (p.kind === 'entries' ? entriesPath(p.index, p.width) : tilePath(p.level, p.index, p.width));
  // A small deterministic generator (no flakiness): xorshift.
  let seed = 0x9e3779b9;
  const rand = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const pick = (xs: readonly string[]): string => xs[rand(xs.length)]!;
  // Paths built from the grammar's parts and their near misses.
  const prefixes = ['tile/', 'tile/', 'tile/', 'tiles/', '/tile/', 'tile', ''];
  const levels = ['0', '1', '6', '63', '64', '00', '07', 'entries', 'entries', '-1', 'a', '', '0/'];
  const groups = ['x000/', 'x001/', 'x999/', 'x123/', 'x1/', 'x0001/', 'x12a/', 'y001/', 'x001'];
  const lasts = ['000', '005', '999', '123', '12', '1234', '', '5/', 'x005', '00a'];
  const suffixes = ['', '', '', '.p/1', '.p/255', '.p/9', '.p/10', '.p/256', '.p/0', '.p/07', '.p', '.p/', '/', '.p/1/2', '.q/1', 'p/1'];
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    let path = `${pick(prefixes)}${pick(levels)}/`;
    for (let k = rand(4); k > 0; k--) path += pick(groups);
    path += pick(lasts) + pick(suffixes);
    if (rand(8) === 0) {
      const at = rand(path.length + 1);
      path = path.slice(0, at) + pick(['/', 'x', '0', '.', '']) + path.slice(at + rand(2));
    }
    let parsed: ReturnType<typeof parseTilePath> | undefined;
    try {
      parsed = parseTilePath(path);
    } catch (e) {
      assert.ok(isMalformed(e), path);
    }
    if (parsed) {
      accepted++;
      assert.equal(canonical(parsed), path, `${path} parsed to ${JSON.stringify(parsed)}`);
    }
  }
  assert.ok(accepted > 100, `${accepted} random paths parsed`);
  for (let i = 0; i < 5000; i++) {
    const index = [rand(1000), rand(1_000_000), rand(2 ** 31) * 1000 + rand(1000), Number.MAX_SAFE_INTEGER - rand(1000)][rand(4)]!;
    const width = rand(3) === 0 ? TILE_WIDTH : 1 + rand(255);
    const level = rand(64);
    assert.deepEqual(parseTilePath(tilePath(level, index, width)), { kind: 'hashes', level, index, width });
    assert.deepEqual(parseTilePath(entriesPath(index, width)), { kind: 'entries', index, width });
  }
  // An index past 2^53 - 1 is refused, as before.
  assert.throws(() => parseTilePath('tile/0/x009/x007/x199/x254/x740/x992/000'), isMalformed);
});

test('tile widths and partial tiles for a tree size (C2SP example: 70,000)', () => {
  const p = partialTiles(70000);
  assert.deepEqual(p, [
    { level: 0, index: 273, width: 112 },
    { level: 1, index: 1, width: 17 },
    { level: 2, index: 0, width: 1 },
  ]);
  assert.equal(tileWidth(0, 272, 70000), 256);
  assert.equal(tileWidth(0, 273, 70000), 112);
  assert.equal(tileWidth(0, 274, 70000), 0);
  assert.equal(tileWidth(1, 0, 70000), 256);
  // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1"
  assert.deepEqual(partialTiles(256), [{ level: 1, index: 0, width: 1 }]);
  assert.deepEqual(partialTiles(0), []);
  assert.deepEqual(tileForNode(0, 300), { level: 0, index: 1, start: 44, count: 1 });
  assert.deepEqual(tileForNode(3, 33), { level: 0, index: 1, start: 8, count: 8 });
  assert.deepEqual(tileForNode(8, 0), { level: 1, index: 0, start: 0, count: 1 });
  assert.deepEqual(tileForNode(10, 70), { level: 1, index: 1, start: 24, count: 4 });
});

test('tile bytes and entry bundles encode, decode and reject malformed input', () => {
  const hs = Array.from({ length: 5 }, (_, i) => leafHash(Buffer.from([i])));
  const tile = buildTile(hs);
  assert.equal(tile.length, 160);
  assert.deepEqual(tileHashes(tile).map(hex), hs.map(hex));
  assert.equal(hex(hashInTile(tile, 0, 4)), hex(rootFromLeafHashes(hs.slice(0, 4))));
  assert.equal(hex(hashInTile(tile, 4, 1)), hex(hs[4]!));
  assert.throws(() => hashInTile(tile, 4, 2), isMalformed);
  assert.throws(() => tileHashes(tile.subarray(0, 150)), isMalformed);
  assert.throws(() => tileHashes(new Uint8Array(0)), isMalformed);
  assert.throws(() => tileHashes(new Uint8Array(257 * 32)), isMalformed);
  assert.throws(() => buildTile([]), isTlog);
  assert.throws(() => buildTile([Buffer.alloc(31)]), isTlog);

  const entries = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(65535, 7), Buffer.from('last')];
  const bundle = encodeEntryBundle(entries);
  assert.equal(bundle.length, 2 + 1 + 2 + 0 + 2 + 65535 + 2 + 4);
  assert.deepEqual([...bundle.subarray(0, 3)], [0, 1, 0x61]);
  assert.deepEqual(decodeEntryBundle(bundle).map((e) => Buffer.from(e).toString('hex')), entries.map((e) => e.toString('hex')));
  assert.throws(() => decodeEntryBundle(bundle, 3), isMalformed);
  assert.throws(() => decodeEntryBundle(bundle.subarray(0, bundle.length - 1)), isMalformed);
  assert.throws(() => decodeEntryBundle(Uint8Array.of(0)), isMalformed);
  assert.throws(() => decodeEntryBundle(new Uint8Array(0)), isMalformed);
  assert.throws(() => encodeEntryBundle([Buffer.alloc(65536)]), (e) => isSignetError(e, 'TOO_LARGE'));
  assert.throws(() => encodeEntryBundle([]), isTlog);
});

/** Runs a TileAppender over `leaves` with flushes after the given batch sizes; returns the tile store. */
function publish(leaves: Hash[], batches: number[], store = new Map<string, Uint8Array>(), start?: TileAppender) {
  const app = start ?? TileAppender.empty();
  let pos = app.size;
  for (const b of batches) {
    for (let i = 0; i < b; i++) app.append(leaves[pos++]!);
    for (const w of app.flush()) store.set(tilePath(w.level, w.index, w.width), w.data);
  }
  return { app, store };
}

const fromStore = (store: Map<string, Uint8Array>) => (t: TileId) => store.get(tilePath(t.level, t.index, t.width));

test('TileAppender publishes the tiles C2SP requires, and they reproduce roots and proofs', () => {
  const n = 256 * 256 + 3 * 256 + 77; // full level-1 tile, partial tiles on levels 0, 1 and 2
  const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
  const batches = [1, 255, 1, 300, 4000, 17];
  let total = batches.reduce((a, b) => a + b, 0);
  while (total < n) {
    const b = Math.min(997, n - total);
    batches.push(b);
    total += b;
  }
  const { app, store } = publish(leaves, batches);
  assert.equal(app.size, n);
  const want = rootFromLeafHashes(leaves);
  assert.equal(hex(app.root()), hex(want));

  // Every full tile and every partial tile of the final size exists with the right contents.
  assert.equal(hex(store.get('tile/0/000')!.subarray(0, 32)), hex(leaves[0]!));
  assert.equal(store.get('tile/0/000')!.length, 8192);
  assert.equal(store.get('tile/1/000')!.length, 8192);
  for (const t of partialTiles(n)) assert.ok(store.has(tilePath(t.level, t.index, t.width)), tilePath(t.level, t.index, t.width));
  assert.ok(store.has('tile/0/259.p/77'));
  assert.ok(store.has('tile/1/001.p/3'));
  assert.ok(store.has('tile/2/000.p/1'));
  // tile/1/000 hash i is the root of leaves [256 i, 256 i + 256)
  assert.equal(hex(store.get('tile/1/000')!.subarray(32 * 5, 32 * 6)), hex(rootFromLeafHashes(leaves.slice(1280, 1536))));

  // Node hashes read back from tiles reproduce the root and serve proofs at the final size.
  const reader = tileNodeReader(n, fromStore(store));
  assert.equal(hex(subtreeHash(0, n, reader)), hex(want));
  assert.equal(hex(MerkleFrontier.fromReader(n, reader).root()), hex(want));
  for (const index of [0, 255, 256, 65535, 65536, n - 78, n - 1]) {
    const nodes = proofNodeSet(inclusionProofNodes(index, n));
    const tiles = tilesForNodes(nodes, n);
    assert.ok(tiles.length >= 1 && tiles.length <= 6);
    verifyInclusion(leaves[index]!, index, n, inclusionProof(index, n, reader), want);
  }

  // Earlier sizes that were flushed can still be proven from the tiles published then (partials remain).
  const mid = 1 + 255 + 1 + 300; // 557: after the 4th flush
  const midRoot = rootFromLeafHashes(leaves.slice(0, mid));
  const midReader = tileNodeReader(mid, fromStore(store));
  assert.equal(hex(subtreeHash(0, mid, midReader)), hex(midRoot));
  const cons = consistencyProof(mid, n, reader);
  verifyConsistency(mid, n, cons, midRoot, want);
  assert.ok(tilesForNodes(proofNodeSet(consistencyProofNodes(mid, n)), n).length > 0);

  // A missing tile is a clear TLOG error, not a wrong hash.
  const partial = new Map(store);
  partial.delete('tile/2/000.p/1');
  assert.throws(() => subtreeHash(0, n, tileNodeReader(n, fromStore(partial))), (e) => isTlog(e) && /tile\/2\/000\.p\/1 is not available/.test((e as Error).message));
  // A node that is not complete at that size is refused.
  assert.throws(() => tileNodeReader(300, fromStore(store))(1, 150), isTlog);
  // Wrong-width tile bytes are refused.
  assert.throws(() => tileNodeReader(n, () => new Uint8Array(64))(0, 0), isMalformed);
});

test('TileAppender resumes from partial tiles exactly where it stopped', () => {
  const n = 256 * 3 + 200;
  const leaves = Array.from({ length: n + 600 }, (_, i) => leafHash(Buffer.from(`r ${i}`)));
  const { store } = publish(leaves, [n]);
  const resumed = TileAppender.restore(n, fromStore(store));
  assert.equal(resumed.size, n);
  assert.equal(hex(resumed.root()), hex(rootFromLeafHashes(leaves.slice(0, n))));
  const { app } = publish(leaves, [100, 500], store, resumed);
  assert.equal(hex(app.root()), hex(rootFromLeafHashes(leaves)));
  const reader = tileNodeReader(n + 600, fromStore(store));
  assert.equal(hex(subtreeHash(0, n + 600, reader)), hex(rootFromLeafHashes(leaves)));
  verifyInclusion(leaves[n + 50]!, n + 50, n + 600, inclusionProof(n + 50, n + 600, reader), app.root());

  // Expanded by another hasher (here the same levels, computed whole): the same frontier, so the same tiles after.
  for (const size of [n, 1, 255, 256, 257, 256 * 256 + 77]) {
    const many = Array.from({ length: size + 300 }, (_, i) => leafHash(Buffer.from(`x ${i}`)));
    const { store: s1 } = publish(many, [size]);
    const plain = TileAppender.restore(size, fromStore(s1));
    let expanded = 0;
    const fast = TileAppender.restore(size, fromStore(s1), (d) => {
      expanded++;
      return new ExpandedTile(d);
    });
    assert.equal(expanded, partialTiles(size).length);
    assert.equal(hex(fast.root()), hex(plain.root()));
    const a = publish(many, [300], new Map(s1), plain);
    const b = publish(many, [300], new Map(s1), fast);
    assert.deepEqual([...b.store].map(([k, v]) => [k, hex(v)]), [...a.store].map(([k, v]) => [k, hex(v)]));
    assert.equal(hex(b.app.root()), hex(rootFromLeafHashes(many)));
  }

  assert.deepEqual(TileAppender.restore(0, () => undefined).size, 0);
  assert.throws(() => TileAppender.restore(n, () => undefined), isTlog);
  assert.throws(() => TileAppender.restore(n, () => new Uint8Array(32)), isMalformed);
});

test('expanded tiles give every subtree hash, and a shared cache avoids re-reading tiles', async () => {
  const { ExpandedTile } = await import('../../src/tlog/index.js');
  const hs = Array.from({ length: 200 }, (_, i) => leafHash(Buffer.from([i])));
  const tile = new ExpandedTile(buildTile(hs));
  assert.equal(tile.width, 200);
  for (const [start, count] of [[0, 128], [128, 64], [192, 8], [199, 1], [64, 64], [0, 1]] as const) {
    assert.equal(hex(tile.node(start, count)), hex(hashInTile(buildTile(hs), start, count)), `${start}+${count}`);
    assert.equal(hex(tile.node(start, count)), hex(rootFromLeafHashes(hs.slice(start, start + count))));
  }
  for (const [start, count] of [[192, 16], [1, 2], [0, 3], [0, 256]] as const) assert.throws(() => tile.node(start, count), isMalformed);

  const leaves = Array.from({ length: 1000 }, (_, i) => leafHash(Buffer.from(`c ${i}`)));
  const { store, app } = publish(leaves, [1000]);
  let reads = 0;
  const cache = new Map();
  const getTile = (t: TileId) => {
    reads++;
    return store.get(tilePath(t.level, t.index, t.width));
  };
  for (let i = 0; i < 1000; i += 37) {
    verifyInclusion(leaves[i]!, i, 1000, inclusionProof(i, 1000, tileNodeReader(1000, getTile, { cache })), app.root());
  }
  assert.equal(reads, cache.size);
  assert.ok(reads <= 5, `read ${reads} tiles`); // 4 level-0 tiles (3 full + 1 partial) and the level-1 partial
});
