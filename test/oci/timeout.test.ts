/**
 * Registries that misbehave at the socket level: one that accepts and never answers, one that sends
 * headers and then a byte a second, one that redirects to itself, one that drops the connection. Each is
 * a raw `net` or `node:http` server on 127.0.0.1. The bounds asserted are generous (a loaded machine
 * must pass): they tell "gives up" from "hangs", they are not speed figures.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEDIA_TYPE, RegistryClient, sha256Digest, type Repo } from '../../src/oci/index.js';
import { isSignetError } from '../../src/errors.js';
import { deadlineSignal, withNetOptions } from '../../src/net.js';
import { runCli } from '../helpers/cli.js';
import { httpServer, rawServer } from '../helpers/peers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const fast = { retries: 3, minDelayMs: 1, maxDelayMs: 5 };
const manifestBytes = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: MEDIA_TYPE.ociEmpty, digest: sha256Digest(Buffer.from('{}')), size: 2 }, layers: [] }),
);

/** A broken registry: the peer's `host:port` as the registry name. */
async function rawRegistry(onSocket?: (s: Socket) => void): Promise<{ registry: string; connections: () => number }> {
  const { host, connections } = await rawServer(onSocket);
  return { registry: host, connections };
}

/** Answers /v2/ at once, then for any other request sends headers and one byte of a long body per second. */
function trickle(s: Socket): void {
  let buf = '';
  s.on('data', (d: Buffer) => {
    // A TLS ClientHello gets what a plain-HTTP server sends it, so the client falls back to http.
    if (buf === '' && d[0] === 0x16) return void s.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    buf += d.toString('latin1');
    let end: number;
    while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      if (head.startsWith('GET /v2/ ')) {
        s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
        continue;
      }
      s.write(`HTTP/1.1 200 OK\r\ncontent-type: ${MEDIA_TYPE.ociManifest}\r\ncontent-length: 100000\r\n\r\n`);
      const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write(' ')), 1000);
      s.on('close', () => clearInterval(t));
    }
  });
}

/** Falls back to http like `trickle`, answers /v2/, and never answers anything else. */
function silentAfterPing(s: Socket): void {
  s.on('data', (d: Buffer) => {
    if (d[0] === 0x16) return void s.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    if (d.toString('latin1').startsWith('GET /v2/ ')) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}');
  });
}

function repoOf(registry: string): Repo {
  return { registry, repository: 'stub/app' };
}

describe('timeouts', () => {
  test('a registry that accepts and never answers: TIMEOUT naming the host and the phase', { timeout: 60_000 }, async () => {
    const { registry } = await rawRegistry();
    const c = new RegistryClient({ retry: fast, timeouts: { headersMs: 500 } });
    const start = Date.now();
    await assert.rejects(c.getManifest(repoOf(registry), 'v1'), (e: unknown) => {
      assert.ok(isSignetError(e, 'TIMEOUT'), String(e));
      assert.match(e.message, new RegExp(`^timed out connecting to ${registry} \\(nothing within 500ms\\)$`));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    // A phase timeout is not retried: one wait of 0.5 s, not five.
    assert.ok(Date.now() - start < 15_000, `took ${Date.now() - start} ms`);
    await c.close();
  });

  test('headers then one byte a second: the body-idle timeout fires', { timeout: 60_000 }, async () => {
    const { registry } = await rawRegistry(trickle);
    const c = new RegistryClient({ retry: fast, timeouts: { bodyIdleMs: 300 } });
    await assert.rejects(c.getManifest(repoOf(registry), 'v1'), (e: unknown) => {
      assert.ok(isSignetError(e, 'TIMEOUT'), String(e));
      assert.match(e.message, new RegExp(`reading the response body from ${registry}`));
      return true;
    });
    await c.close();
  });

  test('a trickle that beats the idle timeout is still cut by the caller\'s signal', { timeout: 60_000 }, async () => {
    const { registry } = await rawRegistry(trickle);
    const c = new RegistryClient({ retry: fast, signal: deadlineSignal(1500, 'test deadline') });
    const start = Date.now();
    await assert.rejects(c.getManifest(repoOf(registry), 'v1'), (e: unknown) => {
      assert.ok(isSignetError(e, 'TIMEOUT'), String(e));
      assert.match(e.message, new RegExp(`^timed out after 1\\.5s \\(test deadline\\) while reading the response body from ${registry}`));
      return true;
    });
    assert.ok(Date.now() - start < 20_000, `took ${Date.now() - start} ms`);
    await c.close();
  });

  test('connected, but the response headers never come', { timeout: 60_000 }, async () => {
    const { registry } = await rawRegistry(silentAfterPing);
    const c = new RegistryClient({ retry: fast, timeouts: { headersMs: 500 } });
    await assert.rejects(c.getManifest(repoOf(registry), 'v1'), (e: unknown) => {
      assert.ok(isSignetError(e, 'TIMEOUT'), String(e));
      assert.equal(e.message, `timed out waiting for response headers from ${registry} (nothing within 500ms)`);
      return true;
    });
    await c.close();
  });

  test('the ambient signal of withNetOptions reaches a client that was given none', { timeout: 60_000 }, async () => {
    const { registry } = await rawRegistry(silentAfterPing);
    const c = new RegistryClient({ retry: fast });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(
      withNetOptions({ signal: ac.signal }, () => c.getManifest(repoOf(registry), 'v1')),
      (e: unknown) => isSignetError(e, 'TIMEOUT') && /aborted .* while waiting for response headers/.test(e.message),
    );
    await c.close();
  });

  test('an already aborted signal sends nothing', async () => {
    const { registry, connections } = await rawRegistry();
    const ac = new AbortController();
    ac.abort();
    const c = new RegistryClient({ retry: fast, signal: ac.signal });
    await assert.rejects(c.getManifest(repoOf(registry), 'v1'), (e: unknown) => isSignetError(e, 'TIMEOUT'));
    assert.equal(connections(), 0);
    await c.close();
  });
});

describe('what is retried', () => {
  async function httpStub(handler: (url: string, res: import('node:http').ServerResponse) => void): Promise<{ registry: string; hits: string[] }> {
    const hits: string[] = [];
    const registry = await httpServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      hits.push(req.url!);
      handler(req.url!, res);
    });
    return { registry, hits };
  }

  test('a redirect loop costs at most the redirect limit + 1 requests, and is not retried', async () => {
    const { registry, hits } = await httpStub((url, res) => res.writeHead(302, { location: url }).end());
    const c = new RegistryClient({ retry: fast });
    await assert.rejects(c.getManifest(repoOf(registry), 'v1'), (e: unknown) => {
      assert.ok(isSignetError(e, 'NETWORK'), String(e));
      assert.match(e.message, /redirect/i);
      return true;
    });
    assert.ok(hits.length <= 21, `${hits.length} requests`);
    await c.close();
  });

  test('a dropped connection is retried, then succeeds', async () => {
    let n = 0;
    const { registry } = await rawRegistry((s) => {
      s.once('data', (d: Buffer) => {
        if (d.toString('latin1').startsWith('GET /v2/ ')) {
          s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
        } else if (n++ === 0) {
          s.resetAndDestroy();
        } else {
          s.end(`HTTP/1.1 200 OK\r\ncontent-type: ${MEDIA_TYPE.ociManifest}\r\ncontent-length: ${manifestBytes.length}\r\nconnection: close\r\n\r\n${manifestBytes.toString('latin1')}`);
        }
      });
    });
    const c = new RegistryClient({ retry: fast });
    const m = await c.getManifest(repoOf(registry), 'v1');
    assert.equal(m.digest, sha256Digest(manifestBytes));
    assert.equal(n, 2);
    await c.close();
  });
});

describe('signet verify -t', () => {
  test('against a registry that never answers: exits promptly with the host and the timeout', { timeout: 120_000 }, async () => {
    const { registry } = await rawRegistry();
    const dir = mkdtempSync(join(tmpdir(), 'signet-timeout-'));
    dirs.push(dir);
    const key = join(dir, 'cosign.pub');
    writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
    const start = Date.now();
    const r = await runCli(['verify', '-t', '2s', '--key', key, `${registry}/app:v1`]);
    const took = Date.now() - start;
    assert.notEqual(r.code, 0);
    // The ping's TLS handshake is what never completes.
    assert.match(r.stderr, new RegExp(`^Error: timed out after 2s \\(-t/--timeout\\) while connecting to ${registry}\\n$`));
    // Past 10 s would mean the process waited for undici to give up on the connection.
    assert.ok(took < 9_500, `took ${took} ms`);
  });

  test('COSIGN_TIMEOUT sets it too; a bad duration is a usage error', { timeout: 120_000 }, async () => {
    const { registry } = await rawRegistry();
    const dir = mkdtempSync(join(tmpdir(), 'signet-timeout-'));
    dirs.push(dir);
    const key = join(dir, 'cosign.pub');
    writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
    const r = await runCli(['verify', '--key', key, `${registry}/app:v1`], { env: { COSIGN_TIMEOUT: '1s' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /timed out after 1s \(-t\/--timeout\)/);
    const bad = await runCli(['verify', '-t', 'soon', '--key', key, `${registry}/app:v1`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid duration "soon"/);
  });
});
