import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isSignetError } from '../../src/errors.js';
import { RekorV1Client, RekorV2Client, tlogFromSigningConfig } from '../../src/sigstore/rekor-client.js';

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, close: () => new Promise((r) => s.close(() => r())) };
}

const entry = { ['00000000000000010000000000000000000000000000000000000000000000000000000000000000'.slice(0, 80)]: { body: Buffer.from('{"kind":"hashedrekord","apiVersion":"0.0.1"}').toString('base64'), integratedTime: 1, logID: 'ab'.repeat(32), logIndex: 7 } };

test('5xx and 429 are retried with backoff; the final answer wins', async () => {
  let calls = 0;
  const srv = await serve((_req, res) => {
    calls++;
    if (calls === 1) return void res.writeHead(503).end('{"code":503,"message":"busy"}');
    if (calls === 2) return void res.writeHead(429, { 'retry-after': '0' }).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(entry));
  });
  try {
    const e = await new RekorV1Client({ baseUrl: srv.url }).getByIndex(7);
    assert.equal(e.logIndex, 7);
    assert.equal(calls, 3);
  } finally {
    await srv.close();
  }
});

test('errors are one clear line: 4xx with the log\'s message, 404 as NOT_FOUND, persistent 5xx, malformed answers, unreachable logs', async () => {
  const srv = await serve((req, res) => {
    if (req.url?.startsWith('/api/v1/log/entries?logIndex=1')) return void res.writeHead(404).end('{"code":404,"message":"no entry at index 1"}');
    if (req.url?.startsWith('/api/v1/log/entries?logIndex=2')) return void res.writeHead(500).end('{"code":500,"message":"db down"}');
    if (req.url?.startsWith('/api/v1/log/entries?logIndex=3')) return void res.writeHead(200).end('{"x":{"body":1}}');
    if (req.method === 'POST') return void res.writeHead(400).end('{"code":400,"message":"signature does not verify"}');
    res.writeHead(200).end('not json');
  });
  try {
    const c = new RekorV1Client({ baseUrl: srv.url, attempts: 2 });
    await assert.rejects(c.getByIndex(1), (e) => isSignetError(e, 'NOT_FOUND') && /HTTP 404: no entry at index 1/.test((e as Error).message));
    await assert.rejects(c.getByIndex(2), (e) => isSignetError(e, 'TLOG') && /HTTP 500: db down/.test((e as Error).message));
    await assert.rejects(c.getByIndex(3), (e) => isSignetError(e, 'MALFORMED'));
    await assert.rejects(c.createEntry({}), (e) => isSignetError(e, 'TLOG') && /refused the entry: HTTP 400: signature does not verify/.test((e as Error).message));
    await assert.rejects(new RekorV2Client({ baseUrl: srv.url }).createEntry({}), (e) => isSignetError(e, 'TLOG') && /HTTP 400/.test((e as Error).message));
    await assert.rejects(c.logInfo(), (e) => isSignetError(e, 'MALFORMED'));
    await assert.rejects(c.getByUuid('nope'), (e) => isSignetError(e, 'TLOG'));
  } finally {
    await srv.close();
  }
  await assert.rejects(new RekorV1Client({ baseUrl: srv.url }).logInfo(), (e) => isSignetError(e, 'NETWORK') && /cannot reach the transparency log/.test((e as Error).message));
  assert.throws(() => new RekorV1Client({ baseUrl: 'ftp://x' }), (e) => isSignetError(e, 'USAGE'));
});

test('signing config: highest API version valid now, newest first; bad configs are refused', () => {
  const cfg = (urls: unknown[]) => Buffer.from(JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json', rekorTlogUrls: urls }));
  const now = new Date('2026-01-01T00:00:00Z');
  const urls = [
    { url: 'https://v1', majorApiVersion: 1, validFor: { start: '2021-01-01T00:00:00Z' } },
    { url: 'https://v2-old', majorApiVersion: 2, validFor: { start: '2024-01-01T00:00:00Z', end: '2025-01-01T00:00:00Z' } },
    { url: 'https://v2', majorApiVersion: 2, validFor: { start: '2025-06-01T00:00:00Z' } },
    { url: 'https://v2-future', majorApiVersion: 2, validFor: { start: '2027-01-01T00:00:00Z' } },
    { url: 'https://v3', majorApiVersion: 3, validFor: { start: '2025-06-01T00:00:00Z' } },
  ];
  assert.deepEqual(tlogFromSigningConfig(cfg(urls), now), { url: 'https://v2', majorApiVersion: 2 });
  assert.deepEqual(tlogFromSigningConfig(cfg(urls.slice(0, 2)), now), { url: 'https://v1', majorApiVersion: 1 });
  assert.throws(() => tlogFromSigningConfig(cfg([]), now), (e) => isSignetError(e, 'TLOG'));
  assert.throws(() => tlogFromSigningConfig(Buffer.from('{}'), now), (e) => isSignetError(e, 'MALFORMED'));
  assert.throws(() => tlogFromSigningConfig(cfg([{ url: 'x' }]), now), (e) => isSignetError(e, 'MALFORMED'));
});
