/** net.ts on its own: durations as cosign's --timeout takes them, and the headers allowance for a request body. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { formatDuration, httpFetch, parseDuration } from '../src/net.js';
import { isSignetError } from '../src/errors.js';

const sockets = new Set<Socket>();
const server = createServer((s) => {
  sockets.add(s);
  s.on('error', () => undefined);
  s.resume();
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

describe('net', () => {
  test('Go durations', () => {
    const table: Array<[string, number]> = [['3m', 180_000], ['30s', 30_000], ['1h30m', 5_400_000], ['1.5s', 1500], ['300ms', 300], ['0', 0], ['2m3s', 123_000]];
    for (const [text, ms] of table) assert.equal(parseDuration(text), ms, text);
    for (const bad of ['', '3', 'soon', '3 m', '-1s', '1x', 'm']) assert.throws(() => parseDuration(bad), (e: unknown) => isSignetError(e, 'USAGE'), bad);
    assert.deepEqual([2000, 1500, 180_000, 90_000, 300].map(formatDuration), ['2s', '1.5s', '3m', '1m30s', '300ms']);
  });

  test('a request body adds a second per 100 KiB to the headers wait', { timeout: 30_000 }, async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    await assert.rejects(
      httpFetch(`http://${host}/upload`, { method: 'PUT', body: Buffer.alloc(100 * 1024) }, { timeouts: { headersMs: 200 } }),
      (e: unknown) => isSignetError(e, 'TIMEOUT') && e.message === `timed out waiting for response headers from ${host} (nothing within 1.2s)`,
    );
  });

  test('a streamed body: the headers wait starts after its last byte; a peer that stops accepting it is a timeout', { timeout: 30_000 }, async () => {
    // Reads the whole body, then answers with its length.
    const http = createHttpServer((req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.end(String(n)));
    });
    // Takes the connection and never reads from it.
    const stuck = new Set<Socket>();
    const deaf = createServer((s) => {
      stuck.add(s);
      s.on('error', () => undefined);
      s.pause();
    });
    await Promise.all([new Promise<void>((r) => http.listen(0, '127.0.0.1', r)), new Promise<void>((r) => deaf.listen(0, '127.0.0.1', r))]);
    try {
      const slow = new ReadableStream<Uint8Array>({
        async start(c) {
          for (let i = 0; i < 5; i++) {
            await delay(150);
            c.enqueue(Buffer.alloc(1000, i));
          }
          c.close();
        },
      });
      const res = await httpFetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`, { method: 'PUT', body: slow }, { timeouts: { headersMs: 200 } });
      assert.equal(await res.text(), '5000');
      const host = `127.0.0.1:${(deaf.address() as AddressInfo).port}`;
      let pulls = 0;
      let cancelled = false;
      const endless = new ReadableStream<Uint8Array>({
        pull: (c) => void (pulls++, c.enqueue(Buffer.alloc(64 * 1024))),
        cancel: () => void (cancelled = true),
      });
      await assert.rejects(
        httpFetch(`http://${host}/`, { method: 'PUT', body: endless }, { timeouts: { headersMs: 200, bodyIdleMs: 300 } }),
        (e: unknown) => isSignetError(e, 'TIMEOUT') && e.message === `timed out sending the request body to ${host} (not accepted for 300ms)`,
      );
      // The rest of the source is cancelled, not drained (fetch alone would read it to its end).
      const seen = pulls;
      await delay(200);
      assert.equal(cancelled, true);
      assert.ok(pulls <= seen + 1, `the source was read on after the request failed (${seen} → ${pulls} reads)`);
    } finally {
      for (const s of stuck) s.destroy();
      await Promise.all([new Promise((r) => http.close(r)), new Promise((r) => deaf.close(r))]);
    }
  });
});
