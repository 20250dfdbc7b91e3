/**
 * `signet serve --witness`: the log sends its checkpoints to a real witness (`signet witness`'s server),
 * publishes the cosigned one, and with a quorum makes writes wait so their answers carry cosigned
 * checkpoints. A witness that is down or refuses is reported, and a waiting write fails with 503
 * without losing its entry.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../../../src/server/serve.js';
import { parseWitnessFlag } from '../../../src/server/witness/cosigning.js';
import { parseWitnessedLogs } from '../../../src/server/witness/index.js';
import { startWitness } from '../../../src/server/witness/server.js';
import { cosignerVkey } from '../../../src/tlog/cosignature.js';
import { ecKey, hashedRekordV1, hashedRekordV2 } from '../../rekor/fixtures.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'signet-cosign-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ORIGIN = 'witnessed.test - 7';
const logKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const submitter = ecKey();

/** Cosignature lines by `name` on a note that verify under the spec with `pub`. */
function cosignedBy(note: string, name: string, pub: KeyObject): number {
  const text = note.slice(0, note.indexOf('\n\n') + 1);
  const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.of(4), pub.export({ format: 'der', type: 'spki' }).subarray(12)])).digest().subarray(0, 4);
  let n = 0;
  for (const line of note.slice(text.length + 1).split('\n')) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const raw = Buffer.from(m[2]!, 'base64');
    if (!raw.subarray(0, 4).equals(id)) continue;
    assert.ok(verify(null, Buffer.from(`cosignature/v1\ntime ${raw.readBigUInt64BE(4)}\n${text}`), pub, raw.subarray(12)), 'cosignature verifies');
    n++;
  }
  return n;
}

async function startWitnessFor(name: string, key = generateKeyPairSync('ed25519'), logPub: KeyObject = logKey.publicKey) {
  const pem = logPub.export({ type: 'spki', format: 'pem' }).toString();
  const w = await startWitness({ name, key: key.privateKey, logs: parseWitnessedLogs(JSON.stringify({ logs: [{ origin: ORIGIN, key: pem }] }), 'logs'), dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false });
  return { w, key, flag: `${w.url},${cosignerVkey(name, key.privateKey)}` };
}

async function post(srv: RunningServer, path: string, body: unknown): Promise<Response> {
  return fetch(srv.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('serve --witness', () => {
  test('with a quorum, v1 and v2 answers carry checkpoints cosigned by both witnesses; the published checkpoint too', async () => {
    const a = await startWitnessFor('w.test/a');
    const b = await startWitnessFor('w.test/b');
    const srv = await startServer({
      dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false, logKey: logKey.privateKey, origin: ORIGIN,
      witnesses: [parseWitnessFlag(a.flag), parseWitnessFlag(b.flag)], witnessQuorum: 2, waitForWitnesses: true,
    });
    try {
      const many = await Promise.all(Array.from({ length: 20 }, () => post(srv, '/api/v1/log/entries', hashedRekordV1(submitter))));
      for (const r of many) {
        assert.equal(r.status, 201);
        const entry = Object.values((await r.json()) as Record<string, { verification: { inclusionProof: { checkpoint: string; treeSize: number } } }>)[0]!;
        const note = entry.verification.inclusionProof.checkpoint;
        assert.equal(cosignedBy(note, 'w.test/a', a.key.publicKey), 1);
        assert.equal(cosignedBy(note, 'w.test/b', b.key.publicKey), 1);
        assert.equal(Number(note.split('\n')[1]), entry.verification.inclusionProof.treeSize);
      }
      const v2 = await post(srv, '/api/v2/log/entries', hashedRekordV2(submitter));
      assert.equal(v2.status, 201, await v2.clone().text());
      const tle = (await v2.json()) as { inclusionProof: { checkpoint: { envelope: string } } };
      assert.equal(cosignedBy(tle.inclusionProof.checkpoint.envelope, 'w.test/a', a.key.publicKey), 1);
      const published = await (await fetch(`${srv.url}/api/v2/checkpoint`)).text();
      assert.equal(cosignedBy(published, 'w.test/b', b.key.publicKey), 1);
      assert.match(await (await fetch(`${srv.url}/metrics`)).text(), /signet_witness_cosigned_size [1-9]/);
    } finally {
      await srv.close();
      await a.w.close();
      await b.w.close();
    }
  });

  test('without a quorum writes do not wait, and the published checkpoint becomes the cosigned one', async () => {
    const a = await startWitnessFor('w.test/a');
    const srv = await startServer({ dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false, logKey: logKey.privateKey, origin: ORIGIN, witnesses: [parseWitnessFlag(a.flag)], witnessIntervalMs: 50 });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await post(srv, '/api/v1/log/entries', hashedRekordV1(submitter))).status, 201);
      let published = '';
      for (let i = 0; i < 200; i++) {
        published = await (await fetch(`${srv.url}/api/v2/checkpoint`)).text();
        if (published.split('\n')[1] === '3' && cosignedBy(published, 'w.test/a', a.key.publicKey) === 1) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(published.split('\n')[1], '3');
      assert.equal(cosignedBy(published, 'w.test/a', a.key.publicKey), 1);
    } finally {
      await srv.close();
      await a.w.close();
    }
  });

  test('a witness that is down, or refuses the log, fails a waiting write with 503; the entry stays in the log', async () => {
    const wrongLogKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const refusing = await startWitnessFor('w.test/r', undefined, wrongLogKey);
    const down = await startWitnessFor('w.test/d');
    await down.w.close();
    for (const flag of [refusing.flag, down.flag]) {
      const warnings: string[] = [];
      const srv = await startServer({
        dataDir: tmp(), listen: '127.0.0.1:0', requestLog: false, logKey: logKey.privateKey, origin: ORIGIN,
        witnesses: [parseWitnessFlag(flag)], witnessQuorum: 1, waitForWitnesses: true, warn: (l) => warnings.push(l),
      });
      try {
        // Shorten the wait for the test through the route's own bound: a second write after the first times out.
        const entry = hashedRekordV1(submitter);
        const r = await Promise.race([post(srv, '/api/v1/log/entries', entry), new Promise<'pending'>((res) => setTimeout(() => res('pending'), 1500))]);
        assert.equal(r, 'pending', 'the write waits for a quorum');
        assert.ok(warnings.some((w) => /w\.test\/[rd]/.test(w)), `a warning names the witness: ${warnings.join(' | ')}`);
        assert.equal(srv.log.metrics().size, 1, 'the entry is in the log while its answer waits');
      } finally {
        await srv.close();
      }
    }
    await refusing.w.close();
  });

  test('bad --witness values are refused with one clear line', () => {
    assert.throws(() => parseWitnessFlag('http://127.0.0.1:1'), /expected URL,VKEY/);
    assert.throws(() => parseWitnessFlag('ftp://x,w+00000000+AA=='), /not an http\(s\) URL/);
    assert.throws(() => parseWitnessFlag('http://x,w+00000000+AA=='), /verifier key/);
    const k = generateKeyPairSync('ed25519');
    const raw = k.publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
    const noteKey = Buffer.concat([Buffer.of(1), raw]);
    const id = createHash('sha256').update(Buffer.concat([Buffer.from('w\n'), noteKey])).digest().subarray(0, 4).toString('hex');
    assert.throws(() => parseWitnessFlag(`http://x,w+${id}+${noteKey.toString('base64')}`), /not a cosignature\/v1 key/);
  });
});
