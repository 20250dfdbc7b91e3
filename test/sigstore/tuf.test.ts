import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTufCacheDir, initialize, loadPublicGoodTrustedRoot, publicGoodTrustedRootBytes, DEFAULT_TUF_MIRROR } from '../../src/sigstore/tuf.js';
import { isSignetError } from '../../src/errors.js';
import { freePort } from '../helpers/registry.js';

function productionTufRoot(dir: string): string {
  const seeds = createRequire(import.meta.url)('@sigstore/tuf/seeds.json') as Record<string, { 'root.json': string }>;
  const p = join(dir, 'root.json');
  writeFileSync(p, Buffer.from(seeds[DEFAULT_TUF_MIRROR]!['root.json'], 'base64'));
  return p;
}

describe('tuf', () => {
  it('loads the pinned public-good trusted root with no network', async () => {
    const root = await loadPublicGoodTrustedRoot({ offline: true });
    assert.match(root.mediaType, /trustedroot/);
    assert.ok(root.tlogs.some((l) => l.baseUrl === 'https://rekor.sigstore.dev'));
    assert.ok(root.certificateAuthorities.length >= 1);
    assert.ok(root.timestampAuthorities.length >= 1);
    const doc = JSON.parse(publicGoodTrustedRootBytes().toString()) as { certificateAuthorities: { uri: string }[] };
    assert.ok(doc.certificateAuthorities.some((c) => c.uri === 'https://fulcio.sigstore.dev'));
  });

  it('fails with one clear NETWORK line when the mirror is unreachable, and writes no remote.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tuf-'));
    const mirror = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(
      initialize({ mirror, root: productionTufRoot(dir), cacheDir: join(dir, 'cache'), retries: 0, timeoutMs: 2000 }),
      (e) => isSignetError(e, 'NETWORK') && e.message.startsWith(`cannot update TUF metadata from ${mirror}: `) && /ECONNREFUSED/.test(e.message) && !e.message.includes('\n'),
    );
    assert.equal(existsSync(join(dir, 'cache', 'remote.json')), false);
  });

  it('needs a root for a custom mirror and refuses a file that is not TUF root metadata', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tuf-'));
    await assert.rejects(initialize({ mirror: 'http://127.0.0.1:1', cacheDir: dir }), (e) => isSignetError(e, 'USAGE') && /pass --root/.test(e.message));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"signed":{"_type":"targets"}}');
    await assert.rejects(initialize({ mirror: 'http://127.0.0.1:1', root: bad, cacheDir: dir }), (e) => isSignetError(e, 'MALFORMED') && /not TUF root metadata/.test(e.message));
    await assert.rejects(initialize({ mirror: 'http://127.0.0.1:1', root: join(dir, 'missing.json'), cacheDir: dir }), (e) => isSignetError(e, 'IO'));
    await assert.rejects(initialize({ mirror: 'not a url', cacheDir: dir }), (e) => isSignetError(e, 'USAGE'));
  });

  it('uses TUF_ROOT for the cache directory', () => {
    assert.equal(defaultTufCacheDir({ TUF_ROOT: '/x/y' }), '/x/y');
    assert.match(defaultTufCacheDir({}), /\.sigstore\/root$/);
  });
});
