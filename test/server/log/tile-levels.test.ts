/** The levels a tile check computes are reused by the proof path's expansion, for exactly those bytes. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { expandTile } from '../../../src/server/log/common.js';
import { fullTileRoot, takeLevelsComputedFor } from '../../../src/server/log/integrity.js';
import { nativeCrypto } from '../../../src/native.js';

test('a checked tile is expanded without hashing it again; a view into a larger buffer is never taken for it', { skip: !nativeCrypto.addon && 'the native addon is not built' }, () => {
  const tile = randomBytes(256 * 32);
  const whole = Buffer.from(tile.buffer.slice(tile.byteOffset, tile.byteOffset + tile.byteLength));
  const root = fullTileRoot(whole);
  const levels = takeLevelsComputedFor(whole);
  assert.ok(levels, 'levels remembered for a tile that fills its buffer');
  assert.deepEqual(Buffer.from(levels.subarray(levels.length - 32)), Buffer.from(root));
  assert.equal(takeLevelsComputedFor(whole), undefined, 'taken once: not kept as long as the tile is');
  // The expansion of the same bytes (remembered by a check again) gives the same tree as computing it afresh, and takes them.
  fullTileRoot(whole);
  assert.deepEqual(expandTile(whole), expandTile(Buffer.from(whole)));
  assert.equal(takeLevelsComputedFor(whole), undefined);
  const larger = Buffer.concat([whole, Buffer.alloc(32)]);
  const view = larger.subarray(0, 256 * 32);
  fullTileRoot(view);
  assert.equal(takeLevelsComputedFor(view), undefined);
});
