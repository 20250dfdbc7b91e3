/**
 * Streamed blob uploads (copy, load): a blob goes to the registry as it is read, in one streamed PATCH
 * as skopeo sends it (small ones in one monolithic PUT), never held whole; bytes that do not hash to the
 * digest are never committed, and a failing source cancels the upload.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { RegistryClient } from '../../src/oci/index.js';
import { SignetError, isSignetError } from '../../src/errors.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { startPassThroughProxy, type PassThroughProxy } from '../helpers/pass-through-proxy.js';

let reg: RunningRegistry;
let proxy: PassThroughProxy;
let proxyHost: string;
let received = 0;
const requests: string[] = [];

before(async () => {
  reg = await startRegistry();
  // Counts the request body bytes that reach the registry, and records each write's method and body framing.
  proxy = await startPassThroughProxy(reg.host, (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') requests.push(`${req.method} ${req.headers['content-range'] ? 'ranged' : req.headers['transfer-encoding'] === 'chunked' ? 'chunked' : 'length'}`);
    req.on('data', (d: Buffer) => (received += d.length));
    return false;
  });
  proxyHost = proxy.host;
});
after(async () => {
  await proxy.close();
  await reg.stop();
});

const CHUNK = 256 * 1024;
const PART = 64 * 1024;

test('putBlobStream sends a large blob in one streamed PATCH while still reading it, and a small one in one PUT', async () => {
  const client = new RegistryClient({ streamChunkSize: CHUNK });
  const repo = { registry: proxyHost, repository: 'stream/app' };
  const parts = Array.from({ length: 128 }, () => randomBytes(PART)); // 8 MiB
  const digest = 'sha256:' + parts.reduce((h, p) => h.update(p), createHash('sha256')).digest('hex');
  received = 0;
  requests.length = 0;
  let receivedBeforeLast = 0;
  async function* source(): AsyncGenerator<Uint8Array> {
    for (const [i, p] of parts.entries()) {
      if (i === parts.length - 1) {
        // A client that held the blob before sending would have sent nothing yet: wait (boundedly) for bytes.
        for (let n = 0; n < 200 && received === 0; n++) await delay(50);
        receivedBeforeLast = received;
      }
      yield p;
    }
  }
  try {
    await client.putBlobStream(repo, digest, source());
    assert.ok(receivedBeforeLast > 0, 'the registry had received nothing before the source gave its last part');
    assert.deepEqual(requests, ['POST length', 'PATCH chunked', 'PUT length']);
    assert.equal((await client.getBlob(repo, digest)).length, 128 * PART);
    requests.length = 0;
    const small = randomBytes(CHUNK - 1);
    await client.putBlobStream(repo, 'sha256:' + createHash('sha256').update(small).digest('hex'), [small.subarray(0, 10), small.subarray(10)]);
    assert.deepEqual(requests, ['POST length', 'PUT length']);
  } finally {
    await client.close();
  }
});

test('a source that fails part-way: its own error, the upload cancelled, nothing committed', async () => {
  const client = new RegistryClient({ streamChunkSize: CHUNK });
  const repo = { registry: proxyHost, repository: 'stream/failing' };
  const data = randomBytes(4 * CHUNK);
  const digest = 'sha256:' + createHash('sha256').update(data).digest('hex');
  requests.length = 0;
  async function* source(): AsyncGenerator<Uint8Array> {
    yield data.subarray(0, 2 * CHUNK);
    throw new SignetError('TIMEOUT', 'timed out reading the response body from the source');
  }
  try {
    await assert.rejects(client.putBlobStream(repo, digest, source()), (e) => isSignetError(e, 'TIMEOUT') && e.message === 'timed out reading the response body from the source');
    assert.equal(requests.at(-1), 'DELETE length');
    assert.equal(await client.blobExists(repo, digest), false);
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
