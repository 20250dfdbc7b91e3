/**
 * The log's HTTP APIs against the real server (embedded storage, temp data dir), checked the way an
 * independent client would: SETs with the key from /api/v1/log/publicKey, inclusion proofs against signed
 * checkpoints, consistency proofs between sizes, and tiles that reproduce the checkpoint root.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../../../src/server/serve.js';
import {
  type TileId,
  entryUuid,
  leafHash,
  rootFromInclusionProof,
  subtreeHash,
  tileNodeReader,
  tilePath,
  entriesPath,
  decodeEntryBundle,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  verifySET,
} from '../../../src/tlog/index.js';
import { dsseV1, ecKey, hashedRekordV1, hashedRekordV2, intotoV2, selfSignedCert } from '../../rekor/fixtures.js';

let srv: RunningServer;
let dir: string;
let base: string;

async function post(path: string, body: unknown, raw = false): Promise<Response> {
  return fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ? (body as string) : JSON.stringify(body) });
}

async function getJson(path: string): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await fetch(base + path);
  return { status: r.status, body: await r.json(), headers: r.headers };
}

async function expectError(r: Response | Promise<Response>, status: number, re: RegExp): Promise<Response> {
  const res = await r;
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { code: number; message: string };
  assert.equal(body.code, status);
  assert.match(body.message, re);
  assert.doesNotMatch(body.message, /\n|at .*\.js:\d+/);
  return res;
}

let logKey: ReturnType<typeof createPublicKey>;
let origin: string;
const sigName = (): string => origin.split(' - ')[0]!;

/** Everything an independent Rekor v1 client checks on a LogEntry. */
function checkV1Entry(doc: any, expectBody?: Buffer): { id: string; index: number; body: Buffer; treeSize: number } {
  const ids = Object.keys(doc);
  assert.equal(ids.length, 1);
  const id = ids[0]!;
  const e = doc[id];
  const body = Buffer.from(e.body, 'base64');
  if (expectBody) assert.ok(body.equals(expectBody));
  assert.equal(id.slice(16), entryUuid(body));
  assert.equal(e.logID, createHash('sha256').update(logKey.export({ format: 'der', type: 'spki' })).digest('hex'));
  verifySET({ body: e.body, integratedTime: e.integratedTime, logID: e.logID, logIndex: e.logIndex }, Buffer.from(e.verification.signedEntryTimestamp, 'base64'), logKey);
  assert.ok(Math.abs(e.integratedTime - Date.now() / 1000) < 120);
  const p = e.verification.inclusionProof;
  const cp = verifyCheckpoint(p.checkpoint, { name: sigName(), publicKey: logKey }, { origin });
  assert.equal(cp.size, p.treeSize);
  assert.equal(Buffer.from(cp.rootHash).toString('hex'), p.rootHash);
  assert.equal(p.logIndex, e.logIndex);
  verifyInclusion(leafHash(body), e.logIndex, p.treeSize, p.hashes.map((h: string) => Buffer.from(h, 'hex')), cp.rootHash);
  return { id, index: e.logIndex, body, treeSize: p.treeSize };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signet-http-'));
  srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false, maxBodyBytes: 256 * 1024 });
  base = srv.url;
  const pem = await (await fetch(base + '/api/v1/log/publicKey')).text();
  logKey = createPublicKey(pem);
  origin = srv.log.origin;
});

after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Rekor v1 API', () => {
  const key = ecKey();

  it('serves the public key as PEM and the trusted root beside the data', async () => {
    const r = await fetch(base + '/api/v1/log/publicKey');
    assert.equal(r.headers.get('content-type'), 'application/x-pem-file');
    const tr = JSON.parse(readFileSync(join(dir, 'trusted_root.json'), 'utf8'));
    assert.equal(tr.mediaType, 'application/vnd.dev.sigstore.trustedroot+json;version=0.1');
    assert.equal(tr.tlogs.length, 1);
    assert.equal(tr.tlogs[0].baseUrl, base);
    assert.equal(tr.tlogs[0].publicKey.keyDetails, 'PKIX_ECDSA_P256_SHA_256');
    assert.equal(tr.tlogs[0].publicKey.rawBytes, logKey.export({ format: 'der', type: 'spki' }).toString('base64'));
    assert.equal(tr.tlogs[0].logId.keyId, srv.log.logId.toString('base64'));
    assert.ok(Date.parse(tr.tlogs[0].publicKey.validFor.start) < Date.now());
  });

  it('creates hashedrekord, dsse and intoto entries with SETs and inclusion proofs', async () => {
    for (const req of [hashedRekordV1(key), dsseV1(key, Buffer.from('{"x":1}')), intotoV2(key, Buffer.from('{"y":2}'))]) {
      const r = await post('/api/v1/log/entries', req);
      assert.equal(r.status, 201, await r.clone().text());
      const e = checkV1Entry(await r.json());
      assert.equal(r.headers.get('etag'), e.id);
      assert.equal(r.headers.get('location'), `${base}/api/v1/log/entries/${e.id}`);
      assert.equal(JSON.parse(e.body.toString()).kind, (req as { kind: string }).kind);
    }
  });

  it('answers a duplicate with 409 and the Location of the existing entry', async () => {
    const req = hashedRekordV1(key);
    const first = await post('/api/v1/log/entries', req);
    assert.equal(first.status, 201);
    const id = first.headers.get('etag')!;
    const dup = await expectError(post('/api/v1/log/entries', req), 409, /already exists.*UUID [0-9a-f]{64}/);
    assert.equal(dup.headers.get('location'), `${base}/api/v1/log/entries/${id}`);
  });

  it('reads entries by entry ID, UUID and index, with proofs against the latest checkpoint', async () => {
    const r = await post('/api/v1/log/entries', hashedRekordV1(key));
    const created = checkV1Entry(await r.json());
    await post('/api/v1/log/entries', hashedRekordV1(key)); // grow the tree
    for (const path of [`/api/v1/log/entries/${created.id}`, `/api/v1/log/entries/${created.id.slice(16)}`, `/api/v1/log/entries/${created.id.toUpperCase()}`, `/api/v1/log/entries?logIndex=${created.index}`]) {
      const g = await getJson(path);
      assert.equal(g.status, 200, path);
      const e = checkV1Entry(g.body, created.body);
      assert.ok(e.treeSize > created.index + 1, 'proof is against a newer tree');
    }
    // The answer is written out as bytes: exactly what JSON.stringify gives for it, and the retrieve
    // route's answer (built as an object) for the same entry.
    const text = await (await fetch(`${base}/api/v1/log/entries?logIndex=${created.index}`)).text();
    assert.equal(text, JSON.stringify(JSON.parse(text)));
    const retrieved = await (await post('/api/v1/log/entries/retrieve', { logIndexes: [created.index] })).text();
    assert.equal(retrieved, `[${text}]`);
  });

  it('answers reads of an entry with the SET its write answered (signed once, kept), which verifies with the log key', async () => {
    const r = await post('/api/v1/log/entries', hashedRekordV1(key));
    assert.equal(r.status, 201);
    const doc = (await r.json()) as Record<string, unknown>;
    checkV1Entry(doc);
    const written = (Object.values(doc)[0] as any).verification.signedEntryTimestamp as string;
    await post('/api/v1/log/entries', hashedRekordV1(key)); // grow the tree: a new proof, the same SET
    const id = Object.keys(doc)[0]!;
    for (const path of [`/api/v1/log/entries/${id}`, `/api/v1/log/entries?logIndex=${(Object.values(doc)[0] as any).logIndex}`]) {
      const g = await getJson(path);
      assert.equal(g.status, 200);
      checkV1Entry(g.body);
      // ECDSA signatures are randomized: an equal SET is the one kept, not one made again.
      assert.equal((Object.values(g.body)[0] as any).verification.signedEntryTimestamp, written, path);
    }
  });

  it('404s unknown entries and 400s bad IDs', async () => {
    await expectError(fetch(`${base}/api/v1/log/entries/${'ab'.repeat(32)}`), 404, /no entry with UUID/);
    await expectError(fetch(`${base}/api/v1/log/entries/${'0000000000000001' + 'ab'.repeat(32)}`), 404, /not in this log/);
    await expectError(fetch(`${base}/api/v1/log/entries/xyz`), 400, /not a Rekor entry UUID/);
    await expectError(fetch(`${base}/api/v1/log/entries?logIndex=999999`), 404, /no entry at log index 999999/);
    await expectError(fetch(`${base}/api/v1/log/entries?logIndex=-1`), 400, /logIndex must be a non-negative integer/);
    await expectError(fetch(`${base}/api/v1/log/entries`), 400, /logIndex is required/);
  });

  it('rejects bad submissions with 400 and the reason', async () => {
    await expectError(post('/api/v1/log/entries', '{"kind": ', true), 400, /not valid JSON/);
    await expectError(post('/api/v1/log/entries', { ...hashedRekordV1(key), kind: 'rpm' }), 400, /kind "rpm" is not supported/);
    await expectError(post('/api/v1/log/entries', hashedRekordV1(key, randomBytes(8), { signer: ecKey().privateKey })), 400, /signature does not verify/);
    const bad = hashedRekordV1(key) as any;
    bad.spec.signature.content = Buffer.from('garbage').toString('base64');
    await expectError(post('/api/v1/log/entries', bad), 400, /does not verify/);
  });

  it('limits request bodies (413) while reading, declared or chunked', async () => {
    await expectError(post('/api/v1/log/entries', 'x'.repeat(300 * 1024), true), 413, /exceeds the limit/);
    const chunks = (async function* () {
      for (let i = 0; i < 40; i++) yield new Uint8Array(16 * 1024);
    })();
    const r = await fetch(base + '/api/v1/log/entries', { method: 'POST', body: chunks as never, duplex: 'half' } as RequestInit);
    await expectError(r, 413, /exceeds the limit/);
    const huge = intotoV2(key, Buffer.from('{}')) as any;
    huge.spec.content.envelope.signatures[0].keyid = 'k'.repeat(70_000);
    await expectError(post('/api/v1/log/entries', huge), 413, /the log accepts at most 65535/);
    // The server still serves requests afterwards.
    assert.equal((await fetch(base + '/ping')).status, 200);
  });

  it('retrieves up to 10 entries by UUID, index or proposed entry; 422 beyond', async () => {
    const req = hashedRekordV1(key);
    const created = checkV1Entry(await (await post('/api/v1/log/entries', req)).json());
    const r = await post('/api/v1/log/entries/retrieve', { entryUUIDs: [created.id, 'cd'.repeat(32)], logIndexes: [created.index, 10_000_000], entries: [req] });
    assert.equal(r.status, 200);
    const list = (await r.json()) as any[];
    assert.equal(list.length, 3, 'missing items are omitted');
    for (const d of list) checkV1Entry(d, created.body);
    await expectError(post('/api/v1/log/entries/retrieve', { logIndexes: [0, 1, 2, 3, 4, 5], entryUUIDs: ['ab'.repeat(32), 'ab'.repeat(32), 'ab'.repeat(32), 'ab'.repeat(32), 'ab'.repeat(32)] }), 422, /at most 10/);
    await expectError(post('/api/v1/log/entries/retrieve', { logIndexes: 'x' }), 400, /must be an array/);
    await expectError(post('/api/v1/log/entries/retrieve', { entries: [{ kind: 'nope' }] }), 400, /kind|apiVersion|spec/);
  });

  it('reports log info with a signed tree head', async () => {
    const { status, body } = await getJson('/api/v1/log');
    assert.equal(status, 200);
    const cp = verifyCheckpoint(body.signedTreeHead, { name: sigName(), publicKey: logKey }, { origin });
    assert.equal(cp.size, body.treeSize);
    assert.equal(Buffer.from(cp.rootHash).toString('hex'), body.rootHash);
    assert.equal(body.treeID, srv.log.treeId.toString());
    assert.equal(origin, `127.0.0.1 - ${body.treeID}`);
  });

  it('proves consistency between sizes; 400 beyond the tree', async () => {
    const a = (await getJson('/api/v1/log')).body;
    for (let i = 0; i < 3; i++) await post('/api/v1/log/entries', hashedRekordV1(key));
    const b = (await getJson('/api/v1/log')).body;
    const p = await getJson(`/api/v1/log/proof?firstSize=${a.treeSize}&lastSize=${b.treeSize}`);
    assert.equal(p.status, 200);
    assert.equal(p.body.rootHash, b.rootHash);
    verifyConsistency(a.treeSize, b.treeSize, p.body.hashes.map((h: string) => Buffer.from(h, 'hex')), Buffer.from(a.rootHash, 'hex'), Buffer.from(b.rootHash, 'hex'));
    // An older lastSize: the returned root is that size's root.
    const p2 = await getJson(`/api/v1/log/proof?firstSize=1&lastSize=${a.treeSize}`);
    assert.equal(p2.body.rootHash, a.rootHash);
    await expectError(fetch(`${base}/api/v1/log/proof?firstSize=1&lastSize=${b.treeSize + 1}`), 400, /greater than what is currently observable/);
    await expectError(fetch(`${base}/api/v1/log/proof?firstSize=5&lastSize=2`), 400, /firstSize\(5\) must be less than or equal/);
    await expectError(fetch(`${base}/api/v1/log/proof?firstSize=1`), 400, /lastSize is required/);
    await expectError(fetch(`${base}/api/v1/log/proof?lastSize=1&treeID=42`), 400, /unknown treeID/);
  });

  it('searches the index by hash, public key, email and operator', async () => {
    const { key: ck, certPem } = await selfSignedCert('Bob@Example.com');
    const artifact = randomBytes(16);
    const hex = createHash('sha256').update(artifact).digest('hex');
    const withCert = checkV1Entry(await (await post('/api/v1/log/entries', hashedRekordV1(ck, artifact, { pem: certPem }))).json());
    const other = checkV1Entry(await (await post('/api/v1/log/entries', hashedRekordV1(key, artifact))).json());
    const q = async (body: unknown): Promise<string[]> => {
      const r = await post('/api/v1/index/retrieve', body);
      assert.equal(r.status, 200);
      return (await r.json()) as string[];
    };
    assert.deepEqual((await q({ hash: `sha256:${hex}` })).sort(), [withCert.id, other.id].sort());
    assert.deepEqual((await q({ hash: hex.toUpperCase() })).sort(), [withCert.id, other.id].sort());
    assert.deepEqual(await q({ email: 'bob@example.com' }), [withCert.id]);
    assert.deepEqual(await q({ publicKey: { format: 'x509', content: Buffer.from(certPem).toString('base64') } }), [withCert.id]);
    assert.deepEqual(await q({ hash: hex, email: 'BOB@example.com', operator: 'and' }), [withCert.id]);
    assert.deepEqual(await q({ email: 'nobody@example.com' }), []);
    await expectError(post('/api/v1/index/retrieve', {}), 400, /at least one of/);
    await expectError(post('/api/v1/index/retrieve', { hash: 'sha256:zz' }), 400, /hash must be/);
    await expectError(post('/api/v1/index/retrieve', { publicKey: { format: 'pgp', content: 'aGk=' } }), 400, /format "pgp" is not supported/);
    await expectError(post('/api/v1/index/retrieve', { email: 'a', operator: 'xor' }), 400, /operator/);
  });
});

describe('Rekor v2 API and tiles', () => {
  const key = ecKey();

  it('creates hashedrekord v0.0.2 entries with a proof against a signed checkpoint; 409 + x-log-index on duplicates', async () => {
    const req = hashedRekordV2(key);
    const r = await post('/api/v2/log/entries', req);
    assert.equal(r.status, 201, await r.clone().text());
    const tle = (await r.json()) as any;
    assert.equal(tle.kindVersion.kind, 'hashedrekord');
    assert.equal(tle.kindVersion.version, '0.0.2');
    assert.equal(tle.integratedTime, '0');
    assert.equal(tle.logId.keyId, srv.log.logId.toString('base64'));
    const body = Buffer.from(tle.canonicalizedBody, 'base64');
    const p = tle.inclusionProof;
    assert.equal(typeof p.logIndex, 'string');
    const cp = verifyCheckpoint(p.checkpoint.envelope, { name: sigName(), publicKey: logKey });
    assert.equal(String(cp.size), p.treeSize);
    verifyInclusion(leafHash(body), Number(tle.logIndex), cp.size, p.hashes.map((h: string) => Buffer.from(h, 'base64')), cp.rootHash);
    const dup = await expectError(post('/api/v2/log/entries', req), 409, /already exists/);
    assert.equal(dup.headers.get('x-log-index'), tle.logIndex);
    // The v2 entry is also readable through the v1 API (one tree).
    checkV1Entry((await getJson(`/api/v1/log/entries?logIndex=${tle.logIndex}`)).body, body);
  });

  it('rejects bad v2 requests', async () => {
    const bad = hashedRekordV2(key) as any;
    bad.hashedRekordRequestV002.signature.verifier.keyDetails = 'PKIX_ED25519';
    await expectError(post('/api/v2/log/entries', bad), 400, /keyDetails is PKIX_ED25519 but the key is ecdsa-p256/);
    await expectError(post('/api/v2/log/entries', { nope: 1 }), 400, /unknown field "nope"/);
    await expectError(post('/api/v2/log/entries', hashedRekordV2(key, randomBytes(4), { certDer: randomBytes(40) })), 400, /not a DER X.509 certificate/);
  });

  it('serves the checkpoint and tiles that reproduce its root', async () => {
    // Past one full tile so that level-1 and full tiles exist.
    const reqs = Array.from({ length: 260 }, () => hashedRekordV1(key));
    const results = await Promise.all(reqs.map((q) => post('/api/v1/log/entries', q)));
    assert.ok(results.every((r) => r.status === 201));
    await Promise.all(results.map((r) => r.arrayBuffer()));
    const r = await fetch(base + '/api/v2/checkpoint');
    assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const cp = verifyCheckpoint(await r.text(), { name: sigName(), publicKey: logKey }, { origin });
    assert.ok(cp.size > 256);
    const fetched = new Map<string, Uint8Array>();
    const getTile = (t: TileId): Uint8Array | undefined => fetched.get(tilePath(t.level, t.index, t.width));
    // Fetch every tile a client needs for the whole tree.
    for (let level = 0; level < 3; level++) {
      const levelSize = Math.floor(cp.size / 256 ** level);
      for (let i = 0; i * 256 < levelSize; i++) {
        const width = Math.min(256, levelSize - i * 256);
        if (width === 0) continue;
        const path = tilePath(level, i, width);
        const tr = await fetch(`${base}/api/v2/${path}`);
        assert.equal(tr.status, 200, path);
        assert.equal(tr.headers.get('content-type'), 'application/octet-stream');
        assert.equal(tr.headers.get('cache-control'), width === 256 ? 'max-age=31536000, immutable' : 'max-age=10');
        const bytes = new Uint8Array(await tr.arrayBuffer());
        assert.equal(bytes.length, width * 32);
        fetched.set(path, bytes);
      }
    }
    const reader = tileNodeReader(cp.size, getTile);
    assert.ok(Buffer.from(subtreeHash(0, cp.size, reader)).equals(Buffer.from(cp.rootHash)));
    // Entry bundles hold the leaves: their hashes are the level-0 tile.
    const bundle = await fetch(`${base}/api/v2/${entriesPath(0)}`);
    assert.equal(bundle.status, 200);
    const entries = decodeEntryBundle(new Uint8Array(await bundle.arrayBuffer()));
    const tile0 = fetched.get(tilePath(0, 0))!;
    entries.forEach((e, i) => assert.ok(Buffer.from(leafHash(e)).equals(Buffer.from(tile0.subarray(i * 32, i * 32 + 32)))));
    // The fast route (canonical targets) and the general one (a query) serve the same bytes and headers.
    const viaRouter = await fetch(`${base}/api/v2/${tilePath(0, 0)}?via=router`);
    assert.equal(viaRouter.headers.get('cache-control'), 'max-age=31536000, immutable');
    assert.ok(Buffer.from(await viaRouter.arrayBuffer()).equals(Buffer.from(tile0)));
    const head = await fetch(`${base}/api/v2/${tilePath(0, 0)}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '8192');
    const m = await (await fetch(base + '/metrics')).text();
    assert.match(m, /signet_http_requests_total\{method="GET",route="\/api\/v2\/tile\/...",status="200"\} \d+/);
    // Beyond the tree: 404; a malformed path: 404.
    await expectError(fetch(`${base}/api/v2/tile/0/999`), 404, /beyond the current tree/);
    await expectError(fetch(`${base}/api/v2/tile/entries/5`), 404, /not a tile path/);
    await expectError(fetch(`${base}/api/v2/${tilePath(0, Math.floor(cp.size / 256), 255)}`), 404, /beyond/);
    void rootFromInclusionProof;
  });
});

describe('HTTP plumbing', () => {
  it('404s unknown routes, 405s wrong methods, pings, and exposes metrics', async () => {
    await expectError(fetch(base + '/nope'), 404, /no such resource/);
    const r = await expectError(fetch(base + '/api/v1/log', { method: 'POST' }), 405, /not allowed/);
    assert.match(r.headers.get('allow') ?? '', /GET/);
    await expectError(fetch(base + '/api/v1/log/entries', { method: 'DELETE' }), 405, /not allowed/);
    const ping = await fetch(base + '/ping');
    assert.equal(await ping.text(), 'pong');
    const m = await (await fetch(base + '/metrics')).text();
    assert.match(m, /signet_http_requests_total\{method="POST",route="\/api\/v1\/log\/entries",status="201"\} \d+/);
    assert.match(m, /signet_http_requests_total\{method="GET",route="unmatched",status="404"\} \d+/);
    assert.match(m, /signet_log_append_duration_seconds_count \d+/);
    assert.match(m, /signet_log_size \d+/);
    assert.match(m, /signet_log_batches_total \d+/);
  });
});
