/**
 * A least-recently-used map bounded by count: the log's caches of tiles (expanded, or checked bytes).
 * Number keys where the caller has them: a lookup by a string made for it hashes the whole string.
 */
export class Lru<V, K extends string | number = string> {
  readonly #max: number;
  readonly #map = new Map<K, V>();

  constructor(max: number) {
    this.#max = max;
  }

  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  set(key: K, v: V): void {
    this.#map.delete(key);
    this.#map.set(key, v);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!);
  }

  get size(): number {
    return this.#map.size;
  }

  get capacity(): number {
    return this.#max;
  }

  clear(): void {
    this.#map.clear();
  }
}
