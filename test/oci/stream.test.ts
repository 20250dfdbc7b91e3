/**
 * Streamed blob uploads (copy, load): a blob is never held whole — the source is read at most two
 * chunks ahead of what the registry has received — and bytes that do not hash to the digest are
 * never committed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { RegistryClient } from '../../src/oci/index.js';
import { isSignetError } from '../../src/errors.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';

let reg: RunningRegistry;
let proxy: Server;
let proxyHost: string;
let received = 0;
let largestBody = 0;

before(async () => {
  reg = await startRegistry();
  const port = Number(reg.host.split(':')[1]);
  // Counts the request body bytes that reach the registry, and the largest request body.
  proxy = createServer((req, res) => {
    let body = 0;
    req.on('data', (d: Buffer) => {
      received += d.length;
      body += d.length;
      largestBody = Math.max(largestBody, body);
    });
    const up = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyHost = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
});
after(async () => {
  await new Promise<void>((r) => proxy.close(() => r()));
  await reg.stop();
});

const CHUNK = 256 * 1024;
const PART = 64 * 1024;

test('putBlobStream reads at most two chunks ahead of the registry and sends no request body larger than a chunk', async () => {
  const client = new RegistryClient({ streamChunkSize: CHUNK });
  const repo = { registry: proxyHost, repository: 'stream/app' };
  const parts = Array.from({ length: 128 }, () => randomBytes(PART)); // 8 MiB
  const digest = 'sha256:' + parts.reduce((h, p) => h.update(p), createHash('sha256')).digest('hex');
  received = 0;
  largestBody = 0;
  let yielded = 0;
  let ahead = 0;
  async function* source(): AsyncGenerator<Uint8Array> {
    for (const p of parts) {
      ahead = Math.max(ahead, yielded - received);
      yielded += p.length;
      yield p;
    }
  }
  try {
    await client.putBlobStream(repo, digest, source());
    assert.ok(ahead <= 2 * CHUNK, `read ${ahead} bytes ahead of what the registry had received`);
    assert.ok(largestBody <= CHUNK, `a request carried ${largestBody} bytes`);
    assert.equal((await client.getBlob(repo, digest)).length, 128 * PART);
  } finally {
    await client.close();
  }
});

test('bytes that do not match the digest are refused and never committed', async () => {
  const client = new RegistryClient({ streamChunkSize: CHUNK });
  const repo = { registry: reg.host, repository: 'stream/bad' };
  const good = randomBytes(3 * CHUNK + 17);
  const digest = 'sha256:' + createHash('sha256').update(good).digest('hex');
  const bad = Buffer.from(good);
  bad[bad.length - 1]! ^= 1;
  try {
    await assert.rejects(client.putBlobStream(repo, digest, [bad], 'the test'), (e) => isSignetError(e, 'MALFORMED') && /from the test has digest sha256:/.test(e.message));
    assert.equal(await client.blobExists(repo, digest), false);
    // A small blob (one monolithic PUT) too.
    const small = Buffer.from('tiny');
    await assert.rejects(client.putBlobStream(repo, 'sha256:' + createHash('sha256').update('other').digest('hex'), [small]), (e) => isSignetError(e, 'MALFORMED'));
    await client.putBlobStream(repo, digest, [good.subarray(0, 100), good.subarray(100)]);
    assert.deepEqual(await client.getBlob(repo, digest), good);
  } finally {
    await client.close();
  }
});
