/**
 * Crash safety at the HTTP level: `signet serve` as a child process takes concurrent writes, is killed
 * with SIGKILL mid-stream, and restarted on the same data directory. Every acknowledged (201) entry must
 * still be there with a valid proof, and the new tree must be consistent with every checkpoint handed out.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { leafHash, verifyCheckpoint, verifyConsistency, verifyInclusion } from '../../../src/tlog/index.js';
import { ecKey, hashedRekordV1 } from '../../rekor/fixtures.js';
import { spawnServe } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('no acknowledged entry is lost and the tree stays consistent across SIGKILL', { timeout: 120_000 }, async () => {
  const key = ecKey();
  const requests = Array.from({ length: 1500 }, () => JSON.stringify(hashedRekordV1(key)));
  const { child, url } = await spawnServe(dir);
  const acked: Array<{ uuid: string; body: Buffer; index: number }> = [];
  const checkpoints: Array<{ size: number; root: string; note: string }> = [];
  let next = 0;
  let killed = false;
  const worker = async (): Promise<void> => {
    while (!killed && next < requests.length) {
      const body = requests[next++]!;
      try {
        const r = await fetch(url + '/api/v1/log/entries', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        if (r.status !== 201) continue;
        const doc = (await r.json()) as Record<string, any>;
        const [id, e] = Object.entries(doc)[0]!;
        acked.push({ uuid: id.slice(16), body: Buffer.from(e.body, 'base64'), index: e.logIndex });
        const p = e.verification.inclusionProof;
        checkpoints.push({ size: p.treeSize, root: p.rootHash, note: p.checkpoint });
        if (acked.length === 300 && !killed) {
          killed = true;
          child.kill('SIGKILL');
        }
      } catch {
        // Requests in flight when the server dies fail; they were never acknowledged.
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
  assert.equal(child.signalCode, 'SIGKILL');
  assert.ok(acked.length >= 300);

  const again = await spawnServe(dir);
  try {
    const logKey = createPublicKey(await (await fetch(again.url + '/api/v1/log/publicKey')).text());
    const info = (await (await fetch(again.url + '/api/v1/log')).json()) as any;
    const name = info.signedTreeHead.split('\n')[0].split(' - ')[0];
    const cp = verifyCheckpoint(info.signedTreeHead, { name, publicKey: logKey });
    for (const c of checkpoints) {
      verifyCheckpoint(c.note, { name, publicKey: logKey });
      assert.ok(cp.size >= c.size, `new size ${cp.size} < acknowledged checkpoint ${c.size}`);
    }
    // Consistency with every distinct checkpoint handed out before the crash.
    const seen = new Map(checkpoints.map((c) => [c.size, c.root]));
    for (const [size, rootHex] of seen) {
      const p = (await (await fetch(`${again.url}/api/v1/log/proof?firstSize=${size}&lastSize=${cp.size}`)).json()) as any;
      verifyConsistency(size, cp.size, p.hashes.map((h: string) => Buffer.from(h, 'hex')), Buffer.from(rootHex, 'hex'), cp.rootHash);
    }
    for (const a of acked) {
      const r = await fetch(`${again.url}/api/v1/log/entries/${a.uuid}`);
      assert.equal(r.status, 200, `acknowledged entry ${a.uuid} lost`);
      const e = Object.values((await r.json()) as Record<string, any>)[0];
      assert.equal(e.logIndex, a.index);
      assert.ok(Buffer.from(e.body, 'base64').equals(a.body));
      const p = e.verification.inclusionProof;
      const pc = verifyCheckpoint(p.checkpoint, { name, publicKey: logKey });
      verifyInclusion(leafHash(a.body), a.index, pc.size, p.hashes.map((h: string) => Buffer.from(h, 'hex')), pc.rootHash);
    }
    // The restarted log keeps accepting writes.
    const r = await fetch(again.url + '/api/v1/log/entries', { method: 'POST', body: JSON.stringify(hashedRekordV1(key)), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 201);
  } finally {
    again.child.kill('SIGTERM');
    await new Promise((r) => again.child.once('exit', r));
  }
  assert.equal(again.child.exitCode, 0, 'graceful shutdown exits 0');
});
