/**
 * Gathering calls made in one turn of the event loop into batches. Handing work to another thread (the
 * libuv pool) wakes it, which on a busy machine costs the event loop tens of µs per hand-off; and a
 * write batch's answers all ask for proofs against one checkpoint at once. One batch per turn serves both.
 */

export interface BatcherOptions<T> {
  /** Items with different keys go into different batches (default: all together). */
  key?: (item: T) => unknown;
  /** Up to this many batches per key and turn, each of at least `minChunk` items (defaults 1 and 8). */
  maxChunks?: number;
  minChunk?: number;
}

/**
 * Returns a function whose calls in one turn are run as batches by `run` (one result per item, in
 * order). A batch that fails rejects its own items only.
 */
export function perTurnBatcher<T, R>(run: (items: T[]) => Promise<R[]>, opts: BatcherOptions<T> = {}): (item: T) => Promise<R> {
  type Pending = { item: T; resolve: (r: R) => void; reject: (e: unknown) => void };
  const maxChunks = Math.max(1, opts.maxChunks ?? 1);
  const minChunk = opts.minChunk ?? 8;
  let pending: Pending[] = [];
  const runChunks = (all: Pending[]): void => {
    const chunks = Math.max(1, Math.min(maxChunks, Math.floor(all.length / minChunk)));
    const size = Math.ceil(all.length / chunks);
    for (let at = 0; at < all.length; at += size) {
      const part = all.slice(at, at + size);
      run(part.map((p) => p.item)).then(
        (rs) => part.forEach((p, i) => p.resolve(rs[i]!)),
        (e: unknown) => part.forEach((p) => p.reject(e)),
      );
    }
  };
  const flush = (): void => {
    const all = pending;
    pending = [];
    if (!opts.key) return runChunks(all);
    const groups = new Map<unknown, Pending[]>();
    for (const p of all) {
      const k = opts.key(p.item);
      const g = groups.get(k);
      if (g) g.push(p);
      else groups.set(k, [p]);
    }
    for (const g of groups.values()) runChunks(g);
  };
  return (item) =>
    new Promise<R>((resolve, reject) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push({ item, resolve, reject });
    });
}
