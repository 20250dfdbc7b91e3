import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isSignetError } from '../../src/errors.js';
import {
  EMPTY_ROOT,
  type Hash,
  MerkleFrontier,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootFromInclusionProof,
  rootFromLeafHashes,
  subtreeHash,
  verifyConsistency,
  verifyInclusion,
} from '../../src/tlog/index.js';

const hex = (h: Uint8Array) => Buffer.from(h).toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex');
const isTlogError = (e: unknown) => isSignetError(e, 'TLOG');

// Known answers from transparency-dev/merkle proof/verify_test.go (commit 02194e9afb6c): the standard RFC 6962
// test leaves, the roots of their first 1..8 prefixes, and two inclusion and two consistency proofs.
const KAT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(unhex);
const KAT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const KAT_INCLUSION: [number, number, string[]][] = [
  [0, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [5, 8, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [1, 5, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
];
const KAT_CONSISTENCY: [number, number, string[]][] = [
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  [6, 7, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
];

/** A full in-memory node store: node (level, index) of the tree over `leaves`, recursively by definition. */
function nodeStore(leaves: Hash[]): (level: number, index: number) => Hash {
  const cache = new Map<string, Hash>();
  const get = (level: number, index: number): Hash => {
    const key = `${level}/${index}`;
    let h = cache.get(key);
    if (!h) {
      if ((index + 1) * 2 ** level > leaves.length) throw new Error(`node ${key} not stored`);
      h = level === 0 ? leaves[index]! : nodeHash(get(level - 1, 2 * index), get(level - 1, 2 * index + 1));
      cache.set(key, h);
    }
    return h;
  };
  return get;
}

function testLeaves(n: number): Hash[] {
  return Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
}

test('leaf and node hashes follow RFC 6962 domain separation', () => {
  assert.equal(hex(leafHash(Buffer.from('abc'))), createHash('sha256').update(Buffer.from('\x00abc', 'latin1')).digest('hex'));
  const l = leafHash(Buffer.from('l'));
  const r = leafHash(Buffer.from('r'));
  assert.equal(hex(nodeHash(l, r)), createHash('sha256').update(Buffer.from([1])).update(l).update(r).digest('hex'));
  assert.equal(hex(EMPTY_ROOT), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(rootFromLeafHashes([])), hex(EMPTY_ROOT));
  // nodeHash reuses a scratch buffer: results must not alias each other
  const a = nodeHash(l, r);
  const b = nodeHash(r, l);
  assert.notEqual(hex(a), hex(b));
  assert.equal(hex(a), hex(nodeHash(l, r)));
});

test('known-answer roots for the standard RFC 6962 test leaves', () => {
  const hashes = KAT_LEAVES.map(leafHash);
  const f = MerkleFrontier.empty();
  for (let n = 1; n <= 8; n++) {
    assert.equal(hex(rootFromLeafHashes(hashes.slice(0, n))), KAT_ROOTS[n - 1], `reference root at size ${n}`);
    f.append(hashes[n - 1]!);
    assert.equal(hex(f.root()), KAT_ROOTS[n - 1], `frontier root at size ${n}`);
  }
});

test('known-answer inclusion and consistency proofs are generated and verified', () => {
  const hashes = KAT_LEAVES.map(leafHash);
  const store = nodeStore(hashes);
  for (const [index, size, want] of KAT_INCLUSION) {
    assert.deepEqual(inclusionProof(index, size, store).map(hex), want, `inclusion ${index}/${size}`);
    verifyInclusion(hashes[index]!, index, size, want.map(unhex), unhex(KAT_ROOTS[size - 1]!));
  }
  for (const [m, n, want] of KAT_CONSISTENCY) {
    assert.deepEqual(consistencyProof(m, n, store).map(hex), want, `consistency ${m}->${n}`);
    verifyConsistency(m, n, want.map(unhex), unhex(KAT_ROOTS[m - 1]!), unhex(KAT_ROOTS[n - 1]!));
  }
});

test('frontier root equals the reference root at every size 1..300, and subtreeHash agrees', () => {
  const leaves = testLeaves(300);
  const store = nodeStore(leaves);
  const f = MerkleFrontier.empty();
  const completed: string[] = [];
  for (let n = 1; n <= 300; n++) {
    f.append(leaves[n - 1]!, (level, index, h) => {
      assert.equal(hex(h), hex(store(level, index)), `completed node ${level}/${index}`);
      completed.push(`${level}/${index}`);
    });
    const want = hex(rootFromLeafHashes(leaves.slice(0, n)));
    assert.equal(hex(f.root()), want, `size ${n}`);
    assert.equal(hex(subtreeHash(0, n, store)), want, `subtreeHash size ${n}`);
    assert.equal(f.size, n);
  }
  // every perfect node of a 300-leaf tree is reported exactly once: 300 + 150 + 75 + 37 + 18 + 9 + 4 + 2 + 1
  assert.equal(completed.length, 596);
  assert.equal(new Set(completed).size, 596);
  // restore from stored nodes and from a node reader
  const again = MerkleFrontier.fromNodes(f.size, f.nodes());
  const viaReader = MerkleFrontier.fromReader(300, store);
  assert.equal(hex(again.root()), hex(f.root()));
  assert.equal(hex(viaReader.root()), hex(f.root()));
  viaReader.append(leaves[0]!);
  assert.equal(hex(viaReader.root()), hex(rootFromLeafHashes([...leaves, leaves[0]!])));
  assert.throws(() => MerkleFrontier.fromNodes(300, f.nodes().slice(1)), isTlogError);
  assert.throws(() => MerkleFrontier.empty().append(Buffer.alloc(31)), isTlogError);
});

test('inclusion proofs verify for every (index, size) up to 70 and fail when anything is changed', () => {
  const leaves = testLeaves(70);
  const store = nodeStore(leaves);
  const roots = [EMPTY_ROOT];
  for (let n = 1; n <= 70; n++) roots.push(rootFromLeafHashes(leaves.slice(0, n)));
  const other = leafHash(Buffer.from('other'));
  let checked = 0;
  for (let size = 1; size <= 70; size++) {
    for (let index = 0; index < size; index++) {
      const proof = inclusionProof(index, size, store);
      const leaf = leaves[index]!;
      const root = roots[size]!;
      verifyInclusion(leaf, index, size, proof, root);
      const rejects = (what: string, fn: () => void) => assert.throws(fn, isTlogError, `${what} at ${index}/${size}`);
      rejects('wrong leaf', () => verifyInclusion(other, index, size, proof, root));
      rejects('wrong root', () => verifyInclusion(leaf, index, size, proof, roots[size - 1]!));
      if (index > 0) rejects('index - 1', () => verifyInclusion(leaf, index - 1, size, proof, root));
      rejects('index + 1', () => verifyInclusion(leaf, index + 1, size, proof, root));
      // A proof commits to the tree size only through its shape: e.g. leaf 0 has the same path in trees of
      // 3 and 4 leaves. Sizes that change the path length must fail.
      rejects('size * 2', () => verifyInclusion(leaf, index, size * 2, proof, root));
      if (size > 1 && index < Math.floor(size / 2)) rejects('size / 2', () => verifyInclusion(leaf, index, Math.floor(size / 2), proof, root));
      rejects('extended', () => verifyInclusion(leaf, index, size, [...proof, other], root));
      rejects('extended by root', () => verifyInclusion(leaf, index, size, [...proof, root], root));
      rejects('prepended', () => verifyInclusion(leaf, index, size, [other, ...proof], root));
      if (proof.length > 0) rejects('truncated', () => verifyInclusion(leaf, index, size, proof.slice(0, -1), root));
      for (let i = 0; i < proof.length; i++) {
        for (const bit of [0, 7, 255]) {
          const bad = proof.map((p) => Buffer.from(p));
          bad[i]![bit >> 3]! ^= 1 << (bit & 7);
          rejects(`bit ${bit} of proof[${i}]`, () => verifyInclusion(leaf, index, size, bad, root));
        }
      }
      checked++;
    }
  }
  assert.equal(checked, (70 * 71) / 2);
});

test('consistency proofs verify for every 1 <= m <= n <= 70 and fail when mutated', () => {
  const leaves = testLeaves(70);
  const store = nodeStore(leaves);
  const roots = [EMPTY_ROOT];
  for (let n = 1; n <= 70; n++) roots.push(rootFromLeafHashes(leaves.slice(0, n)));
  const junk = leafHash(Buffer.from('junk'));
  for (let n = 1; n <= 70; n++) {
    for (let m = 1; m <= n; m++) {
      const proof = consistencyProof(m, n, store);
      const r1 = roots[m]!;
      const r2 = roots[n]!;
      verifyConsistency(m, n, proof, r1, r2);
      const rejects = (what: string, fn: () => void) => assert.throws(fn, isTlogError, `${what} at ${m}->${n}`);
      if (m === n) {
        assert.equal(proof.length, 0);
        rejects('non-empty proof for equal sizes', () => verifyConsistency(m, n, [junk], r1, r2));
        if (n > 1) rejects('different roots for equal sizes', () => verifyConsistency(m, n, [], r1, roots[n - 1]!));
        continue;
      }
      rejects('wrong old root', () => verifyConsistency(m, n, proof, roots[m - 1]!, r2));
      rejects('wrong new root', () => verifyConsistency(m, n, proof, r1, roots[n - 1]!));
      rejects('swapped roots', () => verifyConsistency(m, n, proof, r2, r1));
      rejects('size1 + 1', () => verifyConsistency(m + 1, n, proof, r1, r2));
      if (m > 1) rejects('size1 - 1', () => verifyConsistency(m - 1, n, proof, r1, r2));
      rejects('size2 * 2', () => verifyConsistency(m, n * 2, proof, r1, r2));
      if (Math.floor(n / 2) > m) rejects('size2 / 2', () => verifyConsistency(m, Math.floor(n / 2), proof, r1, r2));
      rejects('empty proof', () => verifyConsistency(m, n, [], r1, r2));
      rejects('truncated', () => verifyConsistency(m, n, proof.slice(0, -1), r1, r2));
      rejects('extended', () => verifyConsistency(m, n, [...proof, junk], r1, r2));
      rejects('prepended', () => verifyConsistency(m, n, [junk, ...proof], r1, r2));
      rejects('new size smaller', () => verifyConsistency(n, m, proof, r2, r1));
      for (let i = 0; i < proof.length; i++) {
        const bad = proof.map((p) => Buffer.from(p));
        bad[i]![31]! ^= 0x10;
        rejects(`flipped bit in proof[${i}]`, () => verifyConsistency(m, n, bad, r1, r2));
      }
    }
  }
});

test('proof verification rejects malformed arguments with TLOG errors', () => {
  const leaf = leafHash(Buffer.from('x'));
  assert.throws(() => verifyInclusion(leaf, 0, 0, [], EMPTY_ROOT), isTlogError);
  assert.throws(() => verifyInclusion(leaf, 1, 1, [], leaf), isTlogError);
  assert.throws(() => verifyInclusion(leaf, -1, 1, [], leaf), isTlogError);
  assert.throws(() => verifyInclusion(leaf, 0.5, 1, [], leaf), isTlogError);
  assert.throws(() => verifyInclusion(Buffer.alloc(0), 0, 1, [], leaf), isTlogError);
  assert.throws(() => verifyInclusion(leaf, 0, 1, [], Buffer.alloc(31)), isTlogError);
  assert.throws(() => verifyInclusion(leaf, 0, 2, [Buffer.alloc(33)], leaf), isTlogError);
  verifyInclusion(leaf, 0, 1, [], leaf); // a one-leaf tree's root is its leaf hash
  assert.equal(hex(rootFromInclusionProof(leaf, 0, 1, [])), hex(leaf));
  verifyConsistency(0, 5, [], EMPTY_ROOT, leaf);
  assert.throws(() => verifyConsistency(0, 5, [leaf], EMPTY_ROOT, leaf), isTlogError);
  assert.throws(() => verifyConsistency(5, 4, [leaf], leaf, leaf), isTlogError);
  assert.throws(() => verifyConsistency(1, 2, [Buffer.alloc(3)], leaf, leaf), isTlogError);
  assert.throws(() => inclusionProof(3, 3, () => leaf), isTlogError);
  assert.throws(() => consistencyProof(4, 3, () => leaf), isTlogError);
  try {
    verifyInclusion(leaf, 0, 2, [leaf], leaf);
    assert.fail('should throw');
  } catch (e) {
    assert.ok(isTlogError(e));
    assert.match((e as Error).message, /^inclusion proof for leaf 0 in tree size 2 does not verify/);
    assert.doesNotMatch((e as Error).message, /\n/);
  }
});

test('proofs for large indices avoid 32-bit arithmetic', () => {
  // A tree of 2^40 + 3 leaves whose leaves are all `x`: perfect node hashes depend only on the level.
  const x = leafHash(Buffer.from('x'));
  const byLevel = [x];
  for (let l = 1; l <= 45; l++) byLevel.push(nodeHash(byLevel[l - 1]!, byLevel[l - 1]!));
  const store = (level: number) => byLevel[level]!;
  const size = 2 ** 40 + 3;
  const root = subtreeHash(0, size, store);
  for (const index of [0, 2 ** 31, 2 ** 32 + 1, 2 ** 40 - 1, 2 ** 40, size - 1]) {
    const proof = inclusionProof(index, size, store);
    verifyInclusion(x, index, size, proof, root);
    assert.throws(() => verifyInclusion(x, index, size, proof, x), isTlogError);
  }
  const m = 2 ** 33 + 5;
  const rootM = subtreeHash(0, m, store);
  verifyConsistency(m, size, consistencyProof(m, size, store), rootM, root);
});
