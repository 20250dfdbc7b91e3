import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { buildV1LogEntry, v1EntryId, v1LogEntryBytes, v1SetPayload } from '../../src/rekor/index.js';
import { canonicalJsonBytes, entryId, entryUuid, leafHash } from '../../src/tlog/index.js';

test('a v1 LogEntry written out directly is the UTF-8 of JSON.stringify of the built object', () => {
  const logId = randomBytes(32);
  const notes = [
    'signet.dev - 1234\n42\nq83vbs0=\n\n— signet.dev abcd\n',
    'log "quoted" \\ back\tslash\u0001 😀\n7\nAAAA\n',
  ];
  for (const note of notes) {
    for (const n of [0, 1, 2, 19]) {
      for (const [index, size, time] of [[0, 1, 0], [41, 42, 1740770291], [Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER, 2 ** 40]] as const) {
        const body = randomBytes(1 + (index % 2000));
        const withLeaf = index % 2 === 1;
        const input = {
          treeId: 1193050959916656506n,
          logId,
          entry: { index, body, integratedTime: time, ...(withLeaf ? { leafHash: leafHash(body) } : {}) },
          proof: { treeSize: size, rootHash: randomBytes(32), hashes: Array.from({ length: n }, () => randomBytes(32)), checkpoint: note },
          sign: () => new Uint8Array(0),
          set: randomBytes(71).toString('base64'),
        };
        const want = Buffer.from(JSON.stringify(buildV1LogEntry(input)), 'utf8');
        assert.deepEqual(v1LogEntryBytes(input), want);
        assert.deepEqual(v1LogEntryBytes({ ...input, bodyBase64: body.toString('base64') }), want);
      }
    }
  }
});

test('the SET payload of a v1 answer is the canonical JSON of body, integratedTime, logID and logIndex', () => {
  const logId = randomBytes(32);
  const body = randomBytes(1500);
  const entry = { index: 7, body, integratedTime: 1740770291 };
  const want = canonicalJsonBytes({ body: body.toString('base64'), integratedTime: 1740770291, logID: logId.toString('hex'), logIndex: 7 });
  assert.deepEqual(v1SetPayload(logId, entry), want);
  assert.deepEqual(v1SetPayload(logId, entry, body.toString('base64')), want);
  // Numbers the SET cannot carry are refused as setPayload refuses them.
  assert.throws(() => v1SetPayload(logId, { ...entry, integratedTime: 1.5 }), /integratedTime/);
  assert.throws(() => v1SetPayload(logId, { ...entry, index: -1 }), /logIndex/);
  // The payload the object builder signs is the same.
  let signed: Buffer | undefined;
  buildV1LogEntry({ treeId: 1n, logId, entry, proof: { treeSize: 8, rootHash: randomBytes(32), hashes: [], checkpoint: 'x\n' }, sign: (d) => ((signed = d), new Uint8Array(1)) });
  assert.deepEqual(signed, want);
});

test('a v1 entry ID from the stored leaf hash is the one from the body, for each tree', () => {
  for (const tree of [1n, 1193050959916656506n, (1n << 63n) - 1n, 1n]) {
    const body = randomBytes(100);
    assert.equal(v1EntryId(tree, body, leafHash(body)), entryId(tree, entryUuid(body)));
    assert.equal(v1EntryId(tree, body), entryId(tree, entryUuid(body)));
  }
  assert.throws(() => v1EntryId(0n, Buffer.from('x'), leafHash(Buffer.from('x'))));
});

test('answers sharing proof hash Buffers (one write batch) each carry the right hashes', () => {
  const logId = randomBytes(32);
  const shared = Array.from({ length: 5 }, () => randomBytes(32));
  const proof = (own: Buffer) => ({ treeSize: 100, rootHash: randomBytes(32), hashes: [own, ...shared], checkpoint: 'n\n' });
  for (let i = 0; i < 3; i++) {
    const input = { treeId: 7n, logId, entry: { index: i, body: randomBytes(50), integratedTime: 1 }, proof: proof(randomBytes(32)), sign: () => new Uint8Array(0), set: 'AA==' };
    assert.deepEqual(v1LogEntryBytes(input), Buffer.from(JSON.stringify(buildV1LogEntry(input))));
  }
});
