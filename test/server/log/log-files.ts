/** For tests that damage an embedded log's files on disk. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The path of tile or bundle `rel` (a C2SP path such as tile/0/001) in the log at `dir`. */
export const file = (dir: string, rel: string): string => join(dir, 'tiles', rel);

/** Flips one bit of the byte at `at` (default: the last byte, inside the last entry's body or hash). */
export function flip(path: string, at?: number): void {
  const b = readFileSync(path);
  b[at ?? b.length - 1]! ^= 0x01;
  writeFileSync(path, b);
}
