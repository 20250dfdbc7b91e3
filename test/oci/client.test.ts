/** The registry client against a real docker-registry (CNCF distribution 2.8, anonymous). */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MEDIA_TYPE, RegistryClient, RegistryHttpError, referrersFallbackTag, sha256Digest, type Repo } from '../../src/oci/index.js';
import { isSignetError } from '../../src/errors.js';
import { pushIndex, pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';

let reg: RunningRegistry;
let client: RegistryClient;
const repo = (name: string): Repo => ({ registry: reg.host, repository: name });

function referrerManifest(subject: { mediaType: string; digest: string; size: number }, n: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      artifactType: 'application/vnd.example.sig+json',
      config: { mediaType: MEDIA_TYPE.ociEmpty, digest: sha256Digest(Buffer.from('{}')), size: 2 },
      layers: [{ mediaType: MEDIA_TYPE.ociEmpty, digest: sha256Digest(Buffer.from('{}')), size: 2 }],
      subject,
      annotations: { n: String(n) },
    }),
  );
}

function imageManifest(config: Buffer, layer: Buffer): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      config: { mediaType: MEDIA_TYPE.ociConfig, digest: sha256Digest(config), size: config.length },
      layers: [{ mediaType: MEDIA_TYPE.ociLayerGzip, digest: sha256Digest(layer), size: layer.length }],
    }),
  );
}

/** Count this client's requests by method and path kind (`PUT manifests`, `POST blobs`, …). */
function countRequests(c: RegistryClient): Map<string, number> {
  const counts = new Map<string, number>();
  const original = c.transport.request.bind(c.transport);
  c.transport.request = (req) => {
    const kind = /\/(manifests|blobs)\//.exec(req.path)?.[1] ?? 'other';
    const key = `${req.method} ${kind}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return original(req);
  };
  return counts;
}

describe('RegistryClient against docker-registry', () => {
  before(async () => {
    reg = await startRegistry();
    client = new RegistryClient({ retry: { retries: 2, minDelayMs: 5, maxDelayMs: 20 } });
  });
  after(async () => {
    await client?.close();
    await reg?.stop();
  });

  test('push and read an image: manifest, head, blobs', async () => {
    const r = repo('app/one');
    const img = await pushRandomImage(client, r, 'v1');
    const byTag = await client.getManifest(r, 'v1');
    assert.equal(byTag.digest, img.digest);
    assert.equal(byTag.mediaType, MEDIA_TYPE.ociManifest);
    assert.deepEqual(byTag.bytes, img.manifest);
    assert.equal(byTag.json.layers[0].digest, img.layer.digest);
    const byDigest = await client.getManifest(r, img.digest);
    assert.deepEqual(byDigest.bytes, img.manifest);
    assert.deepEqual(await client.headManifest(r, 'v1'), { mediaType: MEDIA_TYPE.ociManifest, digest: img.digest, size: img.size });
    assert.equal(await client.headManifest(r, 'nope'), null);
    assert.equal(await client.headManifest(repo('never/pushed'), 'v1'), null);
    const layer = await client.getBlob(r, img.layer.digest, { maxBytes: 1024 });
    assert.equal(sha256Digest(layer), img.layer.digest);
    assert.equal(await client.blobExists(r, img.layer.digest), true);
    assert.equal(await client.blobExists(r, sha256Digest(Buffer.from('absent'))), false);
  });

  test('index with two platforms', async () => {
    const r = repo('app/multi');
    const idx = await pushIndex(client, r, 'latest');
    const m = await client.getManifest(r, 'latest');
    assert.equal(m.mediaType, MEDIA_TYPE.ociIndex);
    assert.equal(m.digest, idx.digest);
    assert.deepEqual(
      m.json.manifests.map((d: { platform: { architecture: string } }) => d.platform.architecture),
      ['amd64', 'arm64'],
    );
    // Asking only for image manifests: the registry refuses the index rather than converting it.
    await assert.rejects(client.getManifest(r, 'latest', { accept: [MEDIA_TYPE.dockerManifest] }), (e: unknown) => isSignetError(e));
  });

  test('missing manifest -> NOT_FOUND with the registry code in one line', async () => {
    await assert.rejects(client.getManifest(repo('app/one'), 'does-not-exist'), (e: unknown) => {
      assert.ok(isSignetError(e, 'NOT_FOUND'), String(e));
      assert.match(e.message, new RegExp(`^GET http://${reg.host.replace(/\./g, '\\.')}/v2/app/one/manifests/does-not-exist: 404 MANIFEST_UNKNOWN manifest unknown`));
      return true;
    });
    await assert.rejects(client.getBlob(repo('app/one'), sha256Digest(Buffer.from('x'))), (e: unknown) => isSignetError(e, 'NOT_FOUND') && /BLOB_UNKNOWN/.test(e.message));
  });

  test('size bounds: manifests and blobs over the limit -> TOO_LARGE', async () => {
    const small = new RegistryClient({ maxManifestBytes: 100 });
    try {
      await assert.rejects(small.getManifest(repo('app/one'), 'v1'), (e: unknown) => isSignetError(e, 'TOO_LARGE') && /limit of 100/.test(e.message));
    } finally {
      await small.close();
    }
    const img = await client.getManifest(repo('app/one'), 'v1');
    await assert.rejects(client.getBlob(repo('app/one'), img.json.layers[0].digest, { maxBytes: 10 }), (e: unknown) => isSignetError(e, 'TOO_LARGE'));
  });

  test('bad tags and digests are refused before any request', async () => {
    await assert.rejects(client.getManifest(repo('app/one'), '../../etc'), (e: unknown) => isSignetError(e, 'REFERENCE'));
    await assert.rejects(client.getBlob(repo('app/one'), 'sha256:xyz'), (e: unknown) => isSignetError(e, 'REFERENCE'));
    await assert.rejects(client.deleteManifest(repo('app/one'), 'v1'), (e: unknown) => isSignetError(e, 'REFERENCE'));
  });

  test('putManifest by digest refuses bytes that do not match', async () => {
    await assert.rejects(client.putManifest(repo('app/one'), sha256Digest(Buffer.from('other')), Buffer.from('{}'), MEDIA_TYPE.ociManifest), (e: unknown) => isSignetError(e));
  });

  test('chunked upload of a blob larger than the chunk size', async () => {
    const chunky = new RegistryClient({ chunkSize: 1000 });
    try {
      const bytes = randomBytes(4321);
      const r = repo('app/chunked');
      const { digest, size } = await chunky.putBlob(r, bytes);
      assert.equal(size, 4321);
      assert.equal(digest, sha256Digest(bytes));
      assert.deepEqual(await client.getBlob(r, digest), bytes);
      // Second push is a HEAD hit, no upload.
      assert.deepEqual(await chunky.putBlob(r, bytes), { digest, size });
    } finally {
      await chunky.close();
    }
  });

  test('cross-repository mount', async () => {
    const src = repo('mount/src');
    const dst = repo('mount/dst');
    const { digest } = await client.putBlob(src, randomBytes(100));
    assert.equal(await client.blobExists(dst, digest), false);
    assert.equal(await client.mountBlob(dst, digest, 'mount/src'), true);
    assert.equal(await client.blobExists(dst, digest), true);
    // Unknown blob: the registry opens an upload session instead (202) -> false.
    assert.equal(await client.mountBlob(dst, sha256Digest(Buffer.from('nowhere')), 'mount/src'), false);
  });

  test('tags with Link pagination', async () => {
    const r = repo('app/tags');
    const img = await pushRandomImage(client, r, 't00');
    const names = Array.from({ length: 12 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    for (const t of names.slice(1)) await client.putManifest(r, t, img.manifest, MEDIA_TYPE.ociManifest);
    assert.deepEqual((await client.listTags(r, { pageSize: 5 })).sort(), names);
    assert.deepEqual((await client.listTags(r)).sort(), names);
    await assert.rejects(client.listTags(repo('no/such')), (e: unknown) => isSignetError(e, 'NOT_FOUND') && /NAME_UNKNOWN/.test(e.message));
  });

  test('deleteManifest', async () => {
    const r = repo('app/delete');
    const img = await pushRandomImage(client, r, 'gone');
    await client.deleteManifest(r, img.digest);
    assert.equal(await client.headManifest(r, img.digest), null);
    await assert.rejects(client.deleteManifest(r, img.digest), (e: unknown) => isSignetError(e, 'NOT_FOUND'));
  });

  test('referrers: none yet -> empty from the fallback tag', async () => {
    const r = repo('ref/empty');
    const img = await pushRandomImage(client, r, 'v1');
    assert.deepEqual(await client.referrers(r, img.digest), { manifests: [], source: 'tag' });
  });

  test('referrers: concurrent pushReferrer calls all land in the fallback index', async () => {
    const r = repo('ref/race');
    const img = await pushRandomImage(client, r, 'v1');
    await client.putBlob(r, Buffer.from('{}'));
    const manifests = Array.from({ length: 8 }, (_, i) => referrerManifest(img.descriptor, i));
    // Half through the shared client, half through separate clients (as separate processes would).
    const others = [0, 1, 2, 3].map(() => new RegistryClient());
    try {
      const digests = await Promise.all(
        manifests.map((m, i) => (i % 2 === 0 ? client : others[i >> 1]!).pushReferrer(r, m, MEDIA_TYPE.ociManifest, img.descriptor)),
      );
      const { manifests: found, source } = await client.referrers(r, img.digest);
      assert.equal(source, 'tag');
      assert.deepEqual(found.map((d) => d.digest).sort(), [...digests].sort());
      const one = found.find((d) => d.digest === digests[3])!;
      assert.equal(one.artifactType, 'application/vnd.example.sig+json');
      assert.deepEqual(one.annotations, { n: '3' });
      assert.equal(one.mediaType, MEDIA_TYPE.ociManifest);
      // The fallback index is a plain OCI index at sha256-<hex>.
      const idx = await client.getManifest(r, referrersFallbackTag(img.digest));
      assert.equal(idx.mediaType, MEDIA_TYPE.ociIndex);
      // Pushing the same referrer again does not duplicate it.
      await client.pushReferrer(r, manifests[0]!, MEDIA_TYPE.ociManifest, img.descriptor);
      assert.equal((await client.referrers(r, img.digest)).manifests.length, 8);
      // artifactType filtering is applied client-side for the fallback.
      assert.equal((await client.referrers(r, img.digest, { artifactType: 'application/other' })).manifests.length, 0);
      assert.equal((await client.referrers(r, img.digest, { artifactType: 'application/vnd.example.sig+json' })).manifests.length, 8);
    } finally {
      await Promise.all(others.map((c) => c.close()));
    }
  });

  test('pushReferrers: a batch lands in one index update; batches and single pushes racing from other clients keep every entry', async () => {
    const r = repo('ref/batch-race');
    const img = await pushRandomImage(client, r, 'v1');
    await client.putBlob(r, Buffer.from('{}'));
    const batch = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({ bytes: referrerManifest(img.descriptor, from + i), mediaType: MEDIA_TYPE.ociManifest, subject: img.descriptor }));
    // Alone: the whole batch is one PUT of the fallback index.
    const counted = new RegistryClient();
    const counts = countRequests(counted);
    const first = await counted.pushReferrers(r, batch(0, 10));
    assert.equal(counts.get('PUT manifests'), 10 + 1, 'ten referrers and one fallback-index write');
    assert.deepEqual(first, batch(0, 10).map((b) => sha256Digest(b.bytes)));
    // Racing: three batches and four single pushes, each through its own client (as separate processes).
    const others = Array.from({ length: 7 }, () => new RegistryClient());
    try {
      const results = await Promise.all([
        others[0]!.pushReferrers(r, batch(100, 6)),
        others[1]!.pushReferrers(r, batch(200, 6)),
        others[2]!.pushReferrers(r, [...batch(300, 5), ...batch(0, 2)]),
        ...[0, 1, 2, 3].map((i) => others[3 + i]!.pushReferrer(r, referrerManifest(img.descriptor, 400 + i), MEDIA_TYPE.ociManifest, img.descriptor).then((d) => [d])),
      ]);
      const expected = new Set([...first, ...results.flat()]);
      assert.equal(expected.size, 10 + 6 + 6 + 5 + 4);
      const { manifests: found } = await client.referrers(r, img.digest);
      assert.deepEqual(found.map((d) => d.digest).sort(), [...expected].sort());
    } finally {
      await Promise.all([counted.close(), ...others.map((c) => c.close())]);
    }
  });

  test('pushReferrers: a manifest refused mid-batch fails the push, and the referrers written before it are indexed', async () => {
    const r = repo('ref/batch-partial');
    const img = await pushRandomImage(client, r, 'v1');
    await client.putBlob(r, Buffer.from('{}'));
    const good = [0, 1, 2].map((i) => referrerManifest(img.descriptor, i));
    // A layer the registry has never seen: distribution refuses the manifest (MANIFEST_BLOB_UNKNOWN).
    const refused = Buffer.from(
      JSON.stringify({ ...JSON.parse(referrerManifest(img.descriptor, 9).toString()), layers: [{ mediaType: 'application/octet-stream', digest: sha256Digest(Buffer.from('never pushed')), size: 12 }] }),
    );
    const items = [...good, refused].map((bytes) => ({ bytes, mediaType: MEDIA_TYPE.ociManifest, subject: img.descriptor }));
    await assert.rejects(client.pushReferrers(r, items, { concurrency: 1 }), (e: unknown) => e instanceof Error && !isSignetError(e, 'INTERNAL'));
    const { manifests } = await client.referrers(r, img.digest);
    assert.deepEqual(manifests.map((d) => d.digest).sort(), good.map((g) => sha256Digest(g)).sort());
  });

  test('pushReferrers checks every manifest before writing any', async () => {
    const r = repo('ref/batch-bad');
    const img = await pushRandomImage(client, r, 'v1');
    const other = { ...img.descriptor, digest: sha256Digest(Buffer.from('other')) };
    const good = referrerManifest(img.descriptor, 0);
    await assert.rejects(
      client.pushReferrers(r, [
        { bytes: good, mediaType: MEDIA_TYPE.ociManifest, subject: img.descriptor },
        { bytes: referrerManifest(other, 1), mediaType: MEDIA_TYPE.ociManifest, subject: img.descriptor },
      ]),
      (e: unknown) => isSignetError(e, 'INTERNAL'),
    );
    assert.equal(await client.headManifest(r, sha256Digest(good)), null);
  });

  test('pushReferrer refuses a manifest whose subject is another image', async () => {
    const r = repo('ref/mismatch');
    const img = await pushRandomImage(client, r, 'v1');
    const other = { ...img.descriptor, digest: sha256Digest(Buffer.from('other')) };
    await assert.rejects(client.pushReferrer(r, referrerManifest(other, 0), MEDIA_TYPE.ociManifest, img.descriptor), (e: unknown) => isSignetError(e, 'INTERNAL'));
  });

  describe('a manifest PUT refused for a blob it cannot find or read', () => {
    /** distribution's link file for a blob in a repository (the filesystem driver's layout). */
    const linkFile = (r: Repo, digest: string): string =>
      join(reg.dataDir, 'docker/registry/v2/repositories', r.repository, '_layers/sha256', digest.slice('sha256:'.length), 'link');

    test('a blob link caught mid-rewrite (a concurrent upload of the same blob): the blob is uploaded again and the PUT retried', async () => {
      const r = repo('blobrace/torn');
      const config = Buffer.from(JSON.stringify({ n: randomBytes(8).toString('hex') }));
      const layer = randomBytes(200);
      await client.putBlob(r, config);
      await client.putBlob(r, layer);
      const manifest = imageManifest(config, layer);
      // distribution 2.8 rewrites the link in place (truncate, then write) on every upload of the
      // blob; a manifest check that reads it in between finds it empty. Freeze that moment.
      const link = linkFile(r, sha256Digest(config));
      assert.equal(readFileSync(link, 'utf8'), sha256Digest(config));
      writeFileSync(link, '');
      const once = new RegistryClient({ manifestPutAttempts: 1 });
      try {
        await assert.rejects(once.putManifest(r, 'v1', manifest, MEDIA_TYPE.ociManifest, { blobs: [config, layer] }), (e: unknown) => {
          assert.ok(e instanceof RegistryHttpError && e.code === 'REGISTRY', String(e));
          assert.equal(e.status, 400);
          assert.deepEqual(e.registryCodes, ['DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN']);
          return true;
        });
      } finally {
        await once.close();
      }
      // A HEAD cannot tell: it fails too, so the blob is uploaded again without asking.
      await assert.rejects(client.blobExists(r, sha256Digest(config)), (e: unknown) => isSignetError(e, 'REGISTRY') && /500/.test(e.message));
      const counts = countRequests(client);
      try {
        assert.equal(await client.putManifest(r, 'v1', manifest, MEDIA_TYPE.ociManifest, { blobs: [config, layer, config] }), sha256Digest(manifest));
      } finally {
        delete (client.transport as { request?: unknown }).request;
      }
      assert.equal(counts.get('PUT manifests'), 2);
      assert.equal(counts.get('POST blobs'), 2, 'each distinct blob is uploaded once more');
      assert.equal(readFileSync(link, 'utf8'), sha256Digest(config));
      assert.deepEqual((await client.getManifest(r, 'v1')).bytes, manifest);
    });

    test('a blob that is not there at all is uploaded and the PUT retried', async () => {
      const r = repo('blobrace/missing');
      const config = Buffer.from(JSON.stringify({ n: randomBytes(8).toString('hex') }));
      const layer = randomBytes(200);
      await client.putBlob(r, config);
      const manifest = imageManifest(config, layer);
      await client.putManifest(r, 'v1', manifest, MEDIA_TYPE.ociManifest, { blobs: [config, layer] });
      assert.deepEqual(await client.getBlob(r, sha256Digest(layer)), layer);
      assert.equal((await client.getManifest(r, 'v1')).digest, sha256Digest(manifest));
    });

    test('without the blob, the PUT gives up after the bounded attempts with the registry\'s answer', async () => {
      const r = repo('blobrace/giveup');
      const config = Buffer.from(JSON.stringify({ n: randomBytes(8).toString('hex') }));
      await client.putBlob(r, config);
      const c = new RegistryClient({ manifestPutAttempts: 3 });
      const counts = countRequests(c);
      try {
        await assert.rejects(c.putManifest(r, 'v1', imageManifest(config, randomBytes(10)), MEDIA_TYPE.ociManifest, { blobs: [config] }), (e: unknown) => {
          assert.ok(e instanceof RegistryHttpError && e.code === 'REGISTRY', String(e));
          assert.match(e.message, /^PUT http:\/\/\S+\/v2\/blobrace\/giveup\/manifests\/v1: 400 MANIFEST_BLOB_UNKNOWN blob unknown to registry \(gave up after 3 attempts\)$/);
          return true;
        });
      } finally {
        await c.close();
      }
      assert.equal(counts.get('PUT manifests'), 3);
      assert.equal(await client.headManifest(r, 'v1'), null, 'nothing was written');
    });

    test('any other refusal is thrown at once, unchanged', async () => {
      const r = repo('blobrace/invalid');
      const counts = countRequests(client);
      try {
        await assert.rejects(client.putManifest(r, 'v1', Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":"no"}'), MEDIA_TYPE.ociManifest, { blobs: [Buffer.from('{}')] }), (e: unknown) => {
          assert.ok(e instanceof RegistryHttpError, String(e));
          assert.match(e.message, /: 400 MANIFEST_INVALID/);
          assert.doesNotMatch(e.message, /gave up/);
          return true;
        });
      } finally {
        delete (client.transport as { request?: unknown }).request;
      }
      assert.equal(counts.get('PUT manifests'), 1);
      assert.equal(counts.get('POST blobs'), undefined);
    });

    test('appendToList: a list whose existing entry names a vanished blob is refused boundedly and left as it was', async () => {
      const r = repo('blobrace/list');
      const config = Buffer.from('{"list":true}');
      const gone = randomBytes(50);
      await client.putBlob(r, config);
      await client.putBlob(r, gone);
      const start = imageManifest(config, gone);
      await client.putManifest(r, 'list', start, MEDIA_TYPE.ociManifest);
      // The existing entry's blob disappears (deleted by someone else); the registry refuses every
      // manifest that still lists it, and no re-upload of ours can help.
      const del = await client.transport.request({ registry: r.registry, method: 'DELETE', path: `/v2/${r.repository}/blobs/${sha256Digest(gone)}`, scopes: [`repository:${r.repository}:pull,push,delete`] });
      await del.body?.cancel();
      const c = new RegistryClient({ manifestPutAttempts: 2 });
      const ours = randomBytes(30);
      try {
        await assert.rejects(
          c.appendToList(r, 'list', [{ mediaType: MEDIA_TYPE.ociLayerGzip, digest: sha256Digest(ours), size: ours.length }], {
            parse: (m) => m.json.layers,
            same: (a, b) => a.digest === b.digest,
            build: (layers) => ({
              bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: MEDIA_TYPE.ociConfig, digest: sha256Digest(config), size: config.length }, layers })),
              mediaType: MEDIA_TYPE.ociManifest,
              blobs: [config, ours],
            }),
          }),
          (e: unknown) => e instanceof RegistryHttpError && /MANIFEST_BLOB_UNKNOWN/.test(e.message) && /gave up after 2 attempts/.test(e.message),
        );
      } finally {
        await c.close();
      }
      assert.deepEqual((await client.getManifest(r, 'list')).bytes, start);
    });
  });

  test('plain http is used for a loopback registry without TLS, remembered per registry', async () => {
    const c = new RegistryClient();
    try {
      assert.equal((await c.headManifest(repo('app/one'), 'v1'))?.mediaType, MEDIA_TYPE.ociManifest);
      assert.equal((await c.headManifest(repo('app/one'), 'v1'))?.mediaType, MEDIA_TYPE.ociManifest);
    } finally {
      await c.close();
    }
  });
});
