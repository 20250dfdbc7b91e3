/**
 * The Sigstore service clients (log, CA, TSA, OIDC, TUF) against servers that accept and never answer,
 * or answer with more than they should: each gives up with one TIMEOUT (or TOO_LARGE) line naming the
 * server, instead of hanging. Raw `net` / `node:http` servers on 127.0.0.1; bounds are generous.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSignetError } from '../../src/errors.js';
import { httpServer, rawServer } from '../helpers/peers.js';
import { deadlineSignal, withNetOptions } from '../../src/net.js';
import { RekorV1Client } from '../../src/sigstore/rekor-client.js';
import { ephemeralSigner, requestCertificate } from '../../src/sigstore/fulcio-client.js';
import { requestTimestamp } from '../../src/sigstore/tsa-client.js';
import { getIdentityToken } from '../../src/sigstore/identity-token.js';
import { DEFAULT_TUF_MIRROR, initialize } from '../../src/sigstore/tuf.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Accepts, reads, never writes a byte. */
async function silent(): Promise<string> {
  return (await rawServer()).host;
}

function http(handler: (res: import('node:http').ServerResponse) => void): Promise<string> {
  return httpServer((req, res) => {
    req.resume();
    req.on('end', () => handler(res));
  });
}

const TOKEN = 'eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwic3ViIjoidGVzdCIsImVtYWlsIjoidEBleGFtcGxlLmNvbSJ9.';

describe('service clients never hang', () => {
  test('transparency log: headers timeout, not retried', { timeout: 60_000 }, async () => {
    const host = await silent();
    const start = Date.now();
    await assert.rejects(new RekorV1Client({ baseUrl: `http://${host}`, timeouts: { headersMs: 300 } }).logInfo(), (e: unknown) => {
      assert.ok(isSignetError(e, 'TIMEOUT'), String(e));
      assert.equal(e.message, `transparency log http://${host}: timed out waiting for response headers from ${host} (nothing within 300ms)`);
      return true;
    });
    assert.ok(Date.now() - start < 15_000);
  });

  test('transparency log: an answer beyond the cap is refused while streaming', { timeout: 60_000 }, async () => {
    const host = await http((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let n = 0;
      const more = (): void => {
        while (n < 40) {
          n++;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end('{}');
      };
      more();
    });
    await assert.rejects(new RekorV1Client({ baseUrl: `http://${host}` }).logInfo(), (e: unknown) => isSignetError(e, 'TOO_LARGE') && /limit of 16777216/.test(e.message));
  });

  test('CA: the caller\'s signal ends the wait, naming the CA', { timeout: 60_000 }, async () => {
    const host = await silent();
    await assert.rejects(requestCertificate(`http://${host}`, { token: TOKEN, signer: ephemeralSigner(), signal: deadlineSignal(300, 'test deadline') }), (e: unknown) => {
      assert.ok(isSignetError(e, 'TIMEOUT'), String(e));
      assert.equal(e.message, `the CA at http://${host}: timed out after 300ms (test deadline) while waiting for response headers from ${host}`);
      return true;
    });
  });

  test('TSA: headers, then silence in the body', { timeout: 60_000 }, async () => {
    const host = await http((res) => {
      res.writeHead(200, { 'content-type': 'application/timestamp-reply', 'content-length': '1000' });
      res.write(Buffer.from([0x30]));
    });
    const url = `http://${host}/api/v1/timestamp`;
    await assert.rejects(requestTimestamp(url, Buffer.from('sig'), { timeouts: { bodyIdleMs: 300 } }), (e: unknown) => {
      assert.ok(isSignetError(e, 'TIMEOUT'), String(e));
      assert.equal(e.message, `timestamp authority at ${url}: timed out reading the response body from ${host} (no data for 300ms)`);
      return true;
    });
  });

  test('OIDC (GitHub Actions token request): the ambient deadline applies', { timeout: 60_000 }, async () => {
    const host = await silent();
    const env = { ACTIONS_ID_TOKEN_REQUEST_URL: `http://${host}/token?x=1`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'req' };
    await assert.rejects(
      withNetOptions({ signal: deadlineSignal(300, '-t/--timeout') }, () => getIdentityToken({ env })),
      (e: unknown) => isSignetError(e, 'TIMEOUT') && e.message === `GitHub Actions OIDC token request: timed out after 300ms (-t/--timeout) while waiting for response headers from ${host}`,
    );
  });

  test('TUF: the deadline ends a refresh whose mirror never answers; nothing is recorded', { timeout: 60_000 }, async () => {
    const host = await silent();
    const dir = mkdtempSync(join(tmpdir(), 'signet-tuf-'));
    dirs.push(dir);
    const seeds = createRequire(import.meta.url)('@sigstore/tuf/seeds.json') as Record<string, { 'root.json': string }>;
    const root = join(dir, 'root.json');
    writeFileSync(root, Buffer.from(seeds[DEFAULT_TUF_MIRROR]!['root.json'], 'base64'));
    const mirror = `http://${host}`;
    const start = Date.now();
    await assert.rejects(
      initialize({ mirror, root, cacheDir: join(dir, 'cache'), signal: deadlineSignal(500, '-t/--timeout') }),
      (e: unknown) => isSignetError(e, 'TIMEOUT') && e.message === `timed out after 500ms (-t/--timeout) while updating TUF metadata from ${mirror}`,
    );
    assert.ok(Date.now() - start < 9_000, `took ${Date.now() - start} ms`);
    assert.equal(existsSync(join(dir, 'cache', 'remote.json')), false);
  });
});
