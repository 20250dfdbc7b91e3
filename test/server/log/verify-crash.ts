/** After a crash: every acknowledged entry is present and proven, and the tree extends every checkpoint seen. */
import assert from 'node:assert/strict';
import type { SignedCheckpoint, TransparencyLog } from '../../../src/server/log/index.js';
import type { Ack } from './crash.js';
import { checkCheckpoint, checkConsistent, checkIncluded, checkTilesMatch } from './suite.js';

export async function verifyAfterCrash(log: TransparencyLog, acks: Ack[]): Promise<SignedCheckpoint> {
  const now = await log.checkpoint();
  checkCheckpoint(log, now);
  const seen = new Map<string, SignedCheckpoint>();
  for (const a of acks) {
    if (!seen.has(a.cp)) {
      const lines = a.cp.split('\n');
      const cp: SignedCheckpoint = { origin: lines[0]!, size: Number(lines[1]), rootHash: Buffer.from(lines[2]!, 'base64'), note: a.cp };
      checkCheckpoint(log, cp);
      seen.set(a.cp, cp);
    }
    const cp = seen.get(a.cp)!;
    assert.ok(cp.size > a.i, `checkpoint of size ${cp.size} covers acknowledged index ${a.i}`);
    const e = await log.entryByIndex(a.i);
    assert.ok(e, `acknowledged entry ${a.i} survived the crash`);
    assert.equal(e.leafHash.toString('hex'), a.h, `entry ${a.i} is the one acknowledged`);
    await checkIncluded(log, a.i, e.leafHash, now);
    await checkIncluded(log, a.i, e.leafHash, cp);
  }
  for (const cp of seen.values()) {
    assert.ok(cp.size <= now.size, `the log after the crash (${now.size}) is not behind a checkpoint handed out (${cp.size})`);
    await checkConsistent(log, cp, now);
  }
  await checkTilesMatch(log, now);
  return now;
}
