/**
 * RFC 6962 / RFC 9162 §2.1.3–2.1.4 inclusion and consistency proofs.
 *
 * Generation reads only hashes of *perfect* subtrees (`level`, `index` = the node covering leaves
 * [index·2^level, (index+1)·2^level)) — exactly what tiles store. A proof element that is not a perfect
 * subtree (the right border of the tree) is rebuilt from the perfect subtrees it decomposes into. A server
 * with async storage first asks `*ProofNodes` which nodes it needs, loads them, then calls the generator.
 */
import { SignetError } from '../errors.js';
import { type Hash, checkHash, checkSize, hashEquals, nodeHash, toHex } from './hash.js';

export interface NodeId {
  level: number;
  index: number;
}

/** Returns the hash of a perfect subtree; must throw (not return garbage) if it is unknown. */
export type NodeReader = (level: number, index: number) => Hash;

/** One proof hash = MTH of these perfect subtrees, folded right to left (a single node in most cases). */
export type ProofElement = NodeId[];

function largestPow2Below(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/** Perfect subtrees making up the RFC 6962 subtree [start, end), largest (leftmost) first. */
export function rangeNodes(start: number, end: number): NodeId[] {
  const out: NodeId[] = [];
  let pos = start;
  while (pos < end) {
    let w = 1;
    let level = 0;
    while (pos % (w * 2) === 0 && pos + w * 2 <= end) {
      w *= 2;
      level++;
    }
    out.push({ level, index: pos / w });
    pos += w;
  }
  return out;
}

function elementHash(el: ProofElement, getNode: NodeReader): Hash {
  const read = (n: NodeId): Hash => {
    const h = getNode(n.level, n.index);
    checkHash(h, `stored node ${n.level}/${n.index}`);
    return h;
  };
  let r = read(el[el.length - 1]!);
  for (let i = el.length - 2; i >= 0; i--) r = nodeHash(read(el[i]!), r);
  return r;
}

/** MTH(D[start:end]) for a subtree of the RFC 6962 tree (e.g. [0, size) for the root) from stored nodes. */
export function subtreeHash(start: number, end: number, getNode: NodeReader): Hash {
  checkSize(start, 'range start');
  checkSize(end, 'range end');
  if (end <= start) throw new SignetError('TLOG', `empty or inverted range [${start}, ${end})`);
  return elementHash(rangeNodes(start, end), getNode);
}

/** The proof elements of PATH(index, D[0:size]), leaf to root. */
export function inclusionProofNodes(index: number, size: number): ProofElement[] {
  checkSize(index, 'leaf index');
  checkSize(size, 'tree size');
  if (index >= size) throw new SignetError('TLOG', `leaf index ${index} is outside a tree of size ${size}`);
  const out: ProofElement[] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = largestPow2Below(hi - lo);
    if (index < lo + k) {
      out.push(rangeNodes(lo + k, hi));
      hi = lo + k;
    } else {
      out.push(rangeNodes(lo, lo + k));
      lo += k;
    }
  }
  return out.reverse();
}

/** The proof elements of PROOF(size1, D[0:size2]) (RFC 6962 §2.1.2), in wire order. */
export function consistencyProofNodes(size1: number, size2: number): ProofElement[] {
  checkSize(size1, 'old tree size');
  checkSize(size2, 'new tree size');
  if (size1 > size2) throw new SignetError('TLOG', `old tree size ${size1} is larger than new tree size ${size2}`);
  if (size1 === 0 || size1 === size2) return [];
  const out: ProofElement[] = [];
  let lo = 0;
  let hi = size2;
  let whole = true; // SUBPROOF's flag b: the old tree is still this whole subtree's left edge
  for (;;) {
    if (size1 === hi) {
      if (!whole) out.push(rangeNodes(lo, hi));
      break;
    }
    const k = largestPow2Below(hi - lo);
    if (size1 <= lo + k) {
      out.push(rangeNodes(lo + k, hi));
      hi = lo + k;
    } else {
      out.push(rangeNodes(lo, lo + k));
      lo += k;
      whole = false;
    }
  }
  return out.reverse();
}

/** Every distinct perfect node the given proof elements read (for prefetching tiles). */
export function proofNodeSet(elements: readonly ProofElement[]): NodeId[] {
  const seen = new Set<string>();
  const out: NodeId[] = [];
  for (const el of elements) {
    for (const n of el) {
      const key = `${n.level}/${n.index}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(n);
      }
    }
  }
  return out;
}

export function inclusionProof(index: number, size: number, getNode: NodeReader): Hash[] {
  return inclusionProofNodes(index, size).map((el) => elementHash(el, getNode));
}

export function consistencyProof(size1: number, size2: number, getNode: NodeReader): Hash[] {
  return consistencyProofNodes(size1, size2).map((el) => elementHash(el, getNode));
}

function short(h: Uint8Array): string {
  return toHex(h).slice(0, 16);
}

/** RFC 9162 §2.1.3.2: the root that `proof` implies for `leaf` at `index` in a tree of `size`. */
export function rootFromInclusionProof(leaf: Hash, index: number, size: number, proof: readonly Hash[]): Hash {
  checkSize(index, 'leaf index');
  checkSize(size, 'tree size');
  checkHash(leaf, 'leaf hash');
  if (index >= size) throw new SignetError('TLOG', `inclusion proof: leaf index ${index} is outside a tree of size ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (let i = 0; i < proof.length; i++) {
    const p = proof[i];
    checkHash(p, `inclusion proof hash ${i}`);
    if (sn === 0) {
      throw new SignetError('TLOG', `inclusion proof for leaf ${index} in tree size ${size} has ${proof.length} hashes, more than the tree needs`);
    }
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) {
    throw new SignetError('TLOG', `inclusion proof for leaf ${index} in tree size ${size} has ${proof.length} hashes, fewer than the tree needs`);
  }
  return r;
}

/** Throws SignetError('TLOG') unless `proof` proves `leaf` is entry `index` of the tree with `root`. */
export function verifyInclusion(leaf: Hash, index: number, size: number, proof: readonly Hash[], root: Hash): void {
  checkHash(root, 'root hash');
  const got = rootFromInclusionProof(leaf, index, size, proof);
  if (!hashEquals(got, root)) {
    throw new SignetError(
      'TLOG',
      `inclusion proof for leaf ${index} in tree size ${size} does not verify: it leads to root ${short(got)}…, expected ${short(root)}…`,
    );
  }
}

/** Throws SignetError('TLOG') unless `proof` shows the tree (size1, root1) is a prefix of (size2, root2). */
export function verifyConsistency(size1: number, size2: number, proof: readonly Hash[], root1: Hash, root2: Hash): void {
  checkSize(size1, 'old tree size');
  checkSize(size2, 'new tree size');
  checkHash(root1, 'old root hash');
  checkHash(root2, 'new root hash');
  proof.forEach((p, i) => checkHash(p, `consistency proof hash ${i}`));
  const fail = (why: string): never => {
    throw new SignetError('TLOG', `consistency proof from tree size ${size1} to ${size2} does not verify: ${why}`);
  };
  if (size2 < size1) fail('the new tree is smaller than the old one');
  if (size1 === size2) {
    if (proof.length > 0) fail('a proof between equal sizes must be empty');
    if (!hashEquals(root1, root2)) fail('equal sizes with different root hashes');
    return;
  }
  if (size1 === 0) {
    // Every tree extends the empty tree; RFC 9162 defines no proof for it.
    if (proof.length > 0) fail('a proof from the empty tree must be empty');
    return;
  }
  if (proof.length === 0) fail('the proof is empty');

  let path: readonly Hash[] = proof;
  // An old tree that is a perfect subtree is not repeated in the proof (RFC 9162 §2.1.4.2 step 2).
  if (isPowerOfTwo(size1)) path = [root1, ...proof];
  const { fr, sr } = walkConsistency(size1, size2, path, fail);
  if (!hashEquals(fr, root1)) fail(`it leads to old root ${short(fr)}…, expected ${short(root1)}…`);
  if (!hashEquals(sr, root2)) fail(`it leads to new root ${short(sr)}…, expected ${short(root2)}…`);
}

/**
 * RFC 9162 §2.1.4.2's walk over a consistency proof (`path` starts with the old root when the old tree is
 * a perfect subtree): the old and new roots it leads to, and the old tree's compact range (its perfect
 * subtrees, leftmost first), which are the proof's left-hand nodes.
 */
function walkConsistency(size1: number, size2: number, path: readonly Hash[], fail: (why: string) => never): { fr: Hash; sr: Hash; left: Hash[] } {
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  const left: Hash[] = [path[0]!];
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) fail('the proof has more hashes than the trees need');
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      left.push(c);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) fail('the proof has fewer hashes than the trees need');
  return { fr, sr, left: left.reverse() };
}

/**
 * Checks a consistency proof from `size1` to `size2` against `root2` (and `root1` when known) and
 * returns the compact range of the old tree, leftmost first: the check against `root2` vouches for the
 * proof's left-hand nodes, which are exactly the old tree's perfect subtrees. A monitor that kept only
 * a checkpoint learns from it the hashes it needs to extend the tree entry by entry. A power-of-two
 * `size1` needs `root1` (the proof leaves out an old tree that is one whole subtree).
 */
export function frontierFromConsistency(size1: number, size2: number, proof: readonly Hash[], root1: Hash | undefined, root2: Hash): Hash[] {
  const fail = (why: string): never => {
    throw new SignetError('TLOG', `consistency proof from tree size ${size1} to ${size2} does not verify: ${why}`);
  };
  if (size1 === 0) {
    if (proof.length > 0) fail('a proof from the empty tree must be empty');
    return [];
  }
  if (size1 >= size2) fail('the new tree must be larger than the old one');
  if (root1) verifyConsistency(size1, size2, proof, root1, root2);
  const pow2 = isPowerOfTwo(size1);
  if (pow2 && !root1) fail('the old tree is a perfect subtree; its root is needed');
  const path = pow2 ? [root1!, ...proof] : proof;
  if (path.length === 0) fail('the proof is empty');
  const { sr, left } = walkConsistency(size1, size2, path, fail);
  if (!hashEquals(sr, root2)) fail('it does not lead to the new root');
  return left;
}
