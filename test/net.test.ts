/** net.ts on its own: durations as cosign's --timeout takes them, and the headers allowance for a request body. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
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
});
