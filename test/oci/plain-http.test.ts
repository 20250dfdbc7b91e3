/**
 * A plain-HTTP registry (the real docker-registry) reached under a name that go-containerregistry's rule
 * does not give plain HTTP: `127.1:PORT` is 127.0.0.1 to the resolver and the URL parser, but not a
 * loopback name by the rule, so https is the only scheme tried and the TLS handshake meets plain HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient, defaultsToPlainHttp } from '../../src/oci/index.js';
import { isSignetError } from '../../src/errors.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';

let reg: RunningRegistry;
let dir: string;
before(async () => {
  reg = await startRegistry();
  dir = mkdtempSync(join(tmpdir(), 'signet-plain-http-'));
});
after(async () => {
  await reg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a plain-HTTP registry not covered by the default rule', () => {
  test('the TLS failure names the registry and --allow-http-registry; with the flag it works', async () => {
    const port = reg.host.split(':')[1]!;
    const other = `127.1:${port}`;
    assert.equal(defaultsToPlainHttp(other), false);
    const loop = new RegistryClient();
    const img = await pushRandomImage(loop, { registry: reg.host, repository: 'plain/app' }, 'v1');
    await loop.close();

    const strict = new RegistryClient({ retry: { retries: 3, minDelayMs: 1, maxDelayMs: 5 } });
    await assert.rejects(strict.getManifest({ registry: other, repository: 'plain/app' }, 'v1'), (e: unknown) => {
      assert.ok(isSignetError(e, 'NETWORK'), String(e));
      assert.match(e.message, new RegExp(`the registry 127\\.0\\.0\\.1:${port} does not speak TLS .*pass --allow-http-registry$`));
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    await strict.close();

    const allowed = new RegistryClient({ allowHttp: true });
    assert.equal((await allowed.getManifest({ registry: other, repository: 'plain/app' }, 'v1')).digest, img.digest);
    await allowed.close();
  });

  test('signet verify: the same one line, and an http:// prefix says references have no scheme', async () => {
    const port = reg.host.split(':')[1]!;
    const key = join(dir, 'cosign.pub');
    writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
    const r = await runCli(['verify', '--key', key, `127.1:${port}/plain/app:v1`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: .*does not speak TLS.*--allow-http-registry\n$/);
    const s = await runCli(['verify', '--key', key, `http://${reg.host}/plain/app:v1`]);
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /image references have no scheme: write ".*\/plain\/app:v1" \(for a registry that speaks plain HTTP, add --allow-http-registry\)\n$/);
  });
});
