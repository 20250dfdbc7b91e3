/**
 * The compact range [0, size) of an append-only Merkle tree: one perfect-subtree hash per set bit of
 * `size`, largest (leftmost) first. Appending a leaf costs amortized one node hash and worst case
 * log2(size); the root at the current size costs popcount(size)-1 hashes. This is what the log server
 * keeps in memory to integrate batches, and its newly completed nodes are what goes into tiles.
 */
import { SignetError } from '../errors.js';
import { EMPTY_ROOT, HASH_SIZE, type Hash, checkHash, checkSize, nodeHash } from './hash.js';

/** Called for every perfect subtree completed by an append: the node at `level` covering
 * leaves [index * 2^level, (index + 1) * 2^level). Level 0 is the leaf itself. */
export type NodeSink = (level: number, index: number, hash: Hash) => void;

export class MerkleFrontier {
  #size: number;
  /** Perfect subtree hashes, leftmost (highest level) first. */
  readonly #nodes: Hash[];

  private constructor(size: number, nodes: Hash[]) {
    this.#size = size;
    this.#nodes = nodes;
  }

  static empty(): MerkleFrontier {
    return new MerkleFrontier(0, []);
  }

  /**
   * Rebuilds a frontier from its stored nodes (as returned by `nodes()`), e.g. after a restart. The
   * node count must equal the number of set bits in `size`.
   */
  static fromNodes(size: number, nodes: readonly Hash[]): MerkleFrontier {
    checkSize(size, 'tree size');
    const want = frontierLevels(size).length;
    if (nodes.length !== want) {
      throw new SignetError('TLOG', `a frontier for tree size ${size} needs ${want} hashes, got ${nodes.length}`);
    }
    nodes.forEach((h, i) => checkHash(h, `frontier hash ${i}`));
    return new MerkleFrontier(size, nodes.slice());
  }

  /** Reads the frontier's perfect subtrees through a node reader (e.g. from tiles). */
  static fromReader(size: number, getNode: (level: number, index: number) => Hash): MerkleFrontier {
    checkSize(size, 'tree size');
    const nodes: Hash[] = [];
    let start = 0;
    for (const level of frontierLevels(size)) {
      const width = 2 ** level;
      const h = getNode(level, start / width);
      checkHash(h, `stored node ${level}/${start / width}`);
      nodes.push(h);
      start += width;
    }
    return new MerkleFrontier(size, nodes);
  }

  get size(): number {
    return this.#size;
  }

  /** The frontier's hashes, leftmost first (a copy of the array; hashes are shared, never mutated). */
  nodes(): Hash[] {
    return this.#nodes.slice();
  }

  /** Appends one leaf hash. `onNode`, if given, sees the leaf (level 0) and every node it completes. */
  append(leaf: Hash, onNode?: NodeSink): void {
    if (leaf.length !== HASH_SIZE) checkHash(leaf, 'leaf hash');
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new SignetError('TLOG', 'tree size limit reached');
    let h = leaf;
    let index = this.#size;
    let level = 0;
    onNode?.(0, index, h);
    // Each trailing 1 bit of the old size is a left sibling waiting for exactly this right subtree.
    while (index % 2 === 1) {
      h = nodeHash(this.#nodes.pop()!, h);
      index = (index - 1) / 2;
      level++;
      onNode?.(level, index, h);
    }
    this.#nodes.push(h);
    this.#size++;
  }

  appendAll(leaves: Iterable<Hash>, onNode?: NodeSink): void {
    for (const leaf of leaves) this.append(leaf, onNode);
  }

  /** MTH of the tree at the current size. */
  root(): Hash {
    const n = this.#nodes;
    if (n.length === 0) return Buffer.from(EMPTY_ROOT);
    let r = n[n.length - 1]!;
    for (let i = n.length - 2; i >= 0; i--) r = nodeHash(n[i]!, r);
    return r;
  }

  clone(): MerkleFrontier {
    return new MerkleFrontier(this.#size, this.#nodes.slice());
  }
}

/** Levels of the perfect subtrees making up [0, size), leftmost (highest) first. */
export function frontierLevels(size: number): number[] {
  const levels: number[] = [];
  let rest = size;
  let level = 0;
  while (rest > 0) {
    if (rest % 2 === 1) levels.push(level);
    rest = Math.floor(rest / 2);
    level++;
  }
  return levels.reverse();
}
