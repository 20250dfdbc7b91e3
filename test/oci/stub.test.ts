/**
 * Behaviour the real docker-registry cannot show: transient failures and retries, garbage answers,
 * the OCI 1.1 referrers API (distribution 2.8 has none), OCI-Subject, relative upload Locations.
 * Each stub is a tiny node:http server on 127.0.0.1 speaking just the protocol lines under test.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MEDIA_TYPE, RegistryClient, sha256Digest, type Descriptor, type Repo } from '../../src/oci/index.js';
import { isSignetError } from '../../src/errors.js';
import { freePort } from '../helpers/registry.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const servers: Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A stub registry: `/v2/` answers 200, everything else goes to `handler`. */
async function stub(handler: Handler): Promise<{ repo: Repo; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      hits.push(`${req.method} ${req.url}`);
      handler(req, res, Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { repo: { registry: `127.0.0.1:${(server.address() as AddressInfo).port}`, repository: 'stub/app' }, hits };
}

const fast = { retries: 3, minDelayMs: 1, maxDelayMs: 5 };
const SUBJECT = sha256Digest(Buffer.from('subject'));
const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: MEDIA_TYPE.ociEmpty, digest: sha256Digest(Buffer.from('{}')), size: 2 }, layers: [] }));

function desc(n: number, artifactType: string): Descriptor {
  return { mediaType: MEDIA_TYPE.ociManifest, digest: sha256Digest(Buffer.from(`ref${n}`)), size: 100 + n, artifactType };
}

describe('transport behaviour against stubs', () => {
  test('500 then 200: retried and succeeds', async () => {
    let n = 0;
    const { repo, hits } = await stub((_req, res) => {
      if (n++ === 0) return void res.writeHead(500).end('oops');
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest }).end(manifestBytes);
    });
    const c = new RegistryClient({ retry: fast });
    const m = await c.getManifest(repo, 'v1');
    assert.equal(m.digest, sha256Digest(manifestBytes));
    assert.equal(hits.length, 2);
    await c.close();
  });

  test('500 forever: bounded retries, then one clear line', async () => {
    const { repo, hits } = await stub((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNKNOWN","message":"storage on fire"}]}');
    });
    const c = new RegistryClient({ retry: fast });
    await assert.rejects(c.getManifest(repo, 'v1'), (e: unknown) => {
      assert.ok(isSignetError(e, 'REGISTRY'));
      assert.equal(e.message, `GET http://${repo.registry}/v2/stub/app/manifests/v1: 500 UNKNOWN storage on fire`);
      return true;
    });
    assert.equal(hits.length, 4);
    await c.close();
  });

  test('429 with Retry-After is honoured, then succeeds', async () => {
    let n = 0;
    let first = 0;
    let second = 0;
    const { repo } = await stub((_req, res) => {
      if (n++ === 0) {
        first = Date.now();
        return void res.writeHead(429, { 'retry-after': '1' }).end();
      }
      second = Date.now();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"stub/app","tags":["a"]}');
    });
    const c = new RegistryClient({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2000 } });
    assert.deepEqual(await c.listTags(repo), ['a']);
    assert.ok(second - first >= 900, `waited ${second - first} ms`);
    await c.close();
  });

  test('garbage manifest body -> MALFORMED; garbage error body -> readable line', async () => {
    const { repo } = await stub((req, res) => {
      if (req.url!.includes('/manifests/')) return void res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest }).end('<html>hello</html>');
      res.writeHead(400, { 'content-type': 'text/html' }).end('<html>\n<body>bad gateway thing</body></html>');
    });
    const c = new RegistryClient({ retry: fast });
    await assert.rejects(c.getManifest(repo, 'v1'), (e: unknown) => isSignetError(e, 'MALFORMED') && /not valid JSON/.test(e.message));
    await assert.rejects(c.listTags(repo), (e: unknown) => isSignetError(e, 'REGISTRY') && /400/.test(e.message) && /unexpected body: <html> <body>bad gateway/.test(e.message) && !e.message.includes('\n'));
    await c.close();
  });

  test('a manifest fetched by digest must hash to that digest', async () => {
    const { repo } = await stub((_req, res) => res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest }).end(manifestBytes));
    const c = new RegistryClient({ retry: fast });
    await assert.rejects(c.getManifest(repo, sha256Digest(Buffer.from('something else'))), (e: unknown) => isSignetError(e, 'MALFORMED') && /digest/.test(e.message));
    await c.close();
  });

  test('oversized manifest without Content-Length is cut off while streaming', async () => {
    const { repo } = await stub((_req, res) => {
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest });
      // chunked transfer: no Content-Length to check up front
      for (let i = 0; i < 100; i++) res.write(Buffer.alloc(1024, 32));
      res.end('{}');
    });
    const c = new RegistryClient({ retry: fast, maxManifestBytes: 10_000 });
    await assert.rejects(c.getManifest(repo, 'v1'), (e: unknown) => isSignetError(e, 'TOO_LARGE'));
    await c.close();
  });

  test('401/403 -> REGISTRY_AUTH, 404 -> NOT_FOUND', async () => {
    const { repo } = await stub((req, res) => {
      if (req.url!.includes('forbidden')) return void res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}');
      res.writeHead(404).end();
    });
    const c = new RegistryClient({ retry: fast });
    await assert.rejects(c.getManifest(repo, 'forbidden'), (e: unknown) => isSignetError(e, 'REGISTRY_AUTH') && /403 DENIED requested access/.test(e.message));
    await assert.rejects(c.getManifest(repo, 'v1'), (e: unknown) => isSignetError(e, 'NOT_FOUND') && /404/.test(e.message));
    await c.close();
  });

  test('connection refused -> NETWORK', async () => {
    const port = await freePort();
    const c = new RegistryClient({ retry: fast });
    await assert.rejects(c.getManifest({ registry: `127.0.0.1:${port}`, repository: 'x' }, 'v1'), (e: unknown) => isSignetError(e, 'NETWORK') && /ECONNREFUSED/.test(e.message));
    await c.close();
  });

  test('IPv6 loopback registry [::1]:port', async (t) => {
    const server = createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"v6","tags":["six"]}');
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '::1', resolve);
      });
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    servers.push(server);
    const c = new RegistryClient({ retry: fast });
    assert.deepEqual(await c.listTags({ registry: `[::1]:${(server.address() as AddressInfo).port}`, repository: 'v6' }), ['six']);
    await c.close();
  });

  test('HEAD without Docker-Content-Digest falls back to GET', async () => {
    const { repo, hits } = await stub((req, res) => {
      if (req.method === 'HEAD') return void res.writeHead(200).end();
      res.writeHead(200, { 'content-type': MEDIA_TYPE.ociManifest }).end(manifestBytes);
    });
    const c = new RegistryClient({ retry: fast });
    assert.deepEqual(await c.headManifest(repo, 'v1'), { mediaType: MEDIA_TYPE.ociManifest, digest: sha256Digest(manifestBytes), size: manifestBytes.length });
    assert.deepEqual(hits, ['HEAD /v2/stub/app/manifests/v1', 'GET /v2/stub/app/manifests/v1']);
    await c.close();
  });

  test('uploads follow relative Location headers, chunked with Content-Range', async () => {
    const ranges: string[] = [];
    let stored = Buffer.alloc(0);
    const { repo, hits } = await stub((req, res, body) => {
      const url = new URL(req.url!, 'http://x');
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      if (req.method === 'POST') return void res.writeHead(202, { location: '/v2/stub/app/blobs/uploads/u1?_state=a' }).end();
      if (req.method === 'PATCH') {
        ranges.push(String(req.headers['content-range']));
        stored = Buffer.concat([stored, body]);
        return void res.writeHead(202, { location: `u1?_state=${stored.length}` }).end();
      }
      if (req.method === 'PUT') {
        assert.equal(url.searchParams.get('digest'), sha256Digest(stored));
        return void res.writeHead(201).end();
      }
      res.writeHead(500).end();
    });
    const c = new RegistryClient({ retry: fast, chunkSize: 4 });
    const bytes = Buffer.from('0123456789');
    assert.deepEqual(await c.putBlob(repo, bytes), { digest: sha256Digest(bytes), size: 10 });
    assert.deepEqual(ranges, ['0-3', '4-7', '8-9']);
    assert.deepEqual(stored, bytes);
    assert.match(hits.at(-1)!, /^PUT \/v2\/stub\/app\/blobs\/uploads\/u1\?_state=10&digest=sha256%3A/);
    await c.close();
  });
});

describe('referrers', () => {
  test('API: 200 OCI index, Link pagination, artifactType filtered client-side', async () => {
    const page1 = [desc(1, 'a/sig'), desc(2, 'b/sbom')];
    const page2 = [desc(3, 'a/sig')];
    const { repo, hits } = await stub((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (!url.pathname.startsWith(`/v2/stub/app/referrers/${SUBJECT}`)) return void res.writeHead(404).end();
      assert.equal(req.headers.accept, MEDIA_TYPE.ociIndex);
      const page = url.searchParams.get('page') === '2' ? page2 : page1;
      const headers: Record<string, string> = { 'content-type': MEDIA_TYPE.ociIndex };
      if (page === page1) headers.link = `</v2/stub/app/referrers/${SUBJECT}?page=2>; rel="next"`;
      res.writeHead(200, headers).end(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: page }));
    });
    const c = new RegistryClient({ retry: fast });
    assert.deepEqual(await c.referrers(repo, SUBJECT), { manifests: [...page1, ...page2], source: 'api' });
    const filtered = await c.referrers(repo, SUBJECT, { artifactType: 'a/sig' });
    assert.deepEqual(filtered, { manifests: [page1[0], page2[0]], source: 'api' });
    assert.ok(hits.some((h) => h.includes('artifactType=a%2Fsig')));
    assert.ok(!hits.some((h) => h.includes('/manifests/')), 'no fallback read when the API answers');
    await c.close();
  });

  test('200 with another content type, 404 and 400 -> fallback tag', async () => {
    for (const status of [200, 404, 400]) {
      const fallback = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [desc(7, 'a/sig')] };
      const { repo } = await stub((req, res) => {
        if (req.url!.includes('/referrers/')) return void res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
        if (req.url === `/v2/stub/app/manifests/${SUBJECT.replace(':', '-')}`) return void res.writeHead(200, { 'content-type': MEDIA_TYPE.ociIndex }).end(JSON.stringify(fallback));
        res.writeHead(404).end();
      });
      const c = new RegistryClient({ retry: fast });
      assert.deepEqual(await c.referrers(repo, SUBJECT), { manifests: fallback.manifests, source: 'tag' }, `status ${status}`);
      await c.close();
    }
  });

  test('a repository without the API is asked once per client; a 404 that is a registry error about the name or subject, every time', async () => {
    const answers: Array<[string, string, number]> = [
      ['plain 404 (distribution 2.x)', '404 page not found\n', 1],
      ['NAME_UNKNOWN', '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}', 3],
      ['MANIFEST_UNKNOWN', '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', 3],
    ];
    for (const [name, body, asked] of answers) {
      const { repo, hits } = await stub((req, res) => {
        if (req.url!.includes('/referrers/')) return void res.writeHead(404, { 'content-type': body.startsWith('{') ? 'application/json' : 'text/plain' }).end(body);
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      });
      const c = new RegistryClient({ retry: fast });
      for (let i = 0; i < 3; i++) assert.deepEqual(await c.referrers(repo, SUBJECT), { manifests: [], source: 'tag' }, name);
      const api = (r: string) => hits.filter((h) => h.startsWith(`GET /v2/${r}/referrers/`)).length;
      assert.equal(api('stub/app'), asked, name);
      assert.equal(hits.filter((h) => h.includes('/manifests/sha256-')).length, 3, `${name}: the fallback tag is read every time`);
      // Another repository on the same registry is asked for itself.
      await c.referrers({ ...repo, repository: 'stub/other' }, SUBJECT);
      assert.equal(api('stub/other'), 1, name);
      // A fresh client asks again.
      const fresh = new RegistryClient({ retry: fast });
      await fresh.referrers(repo, SUBJECT);
      assert.equal(api('stub/app'), asked + 1, name);
      await Promise.all([c.close(), fresh.close()]);
    }
  });

  test('429 (after retries), 401, 500 and garbage on the referrers API throw instead of "no referrers"', async () => {
    const cases: Array<[string, (res: ServerResponse) => void, string]> = [
      ['429', (res) => void res.writeHead(429, { 'retry-after': '0' }).end(), 'REGISTRY'],
      ['401', (res) => void res.writeHead(401).end(), 'REGISTRY_AUTH'],
      ['403', (res) => void res.writeHead(403).end(), 'REGISTRY_AUTH'],
      ['503', (res) => void res.writeHead(503).end('down'), 'REGISTRY'],
      ['garbage', (res) => void res.writeHead(200, { 'content-type': MEDIA_TYPE.ociIndex }).end('not json at all'), 'MALFORMED'],
      ['bad descriptor', (res) => void res.writeHead(200, { 'content-type': MEDIA_TYPE.ociIndex }).end('{"manifests":[{"digest":"nope"}]}'), 'MALFORMED'],
    ];
    for (const [name, answer, code] of cases) {
      const { repo, hits } = await stub((req, res) => {
        if (req.url!.includes('/referrers/')) return answer(res);
        res.writeHead(404).end();
      });
      const c = new RegistryClient({ retry: fast });
      await assert.rejects(c.referrers(repo, SUBJECT), (e: unknown) => isSignetError(e, code as 'REGISTRY') && !e.message.includes('\n'), name);
      assert.ok(!hits.some((h) => h.includes('/manifests/')), `${name}: must not fall back`);
      await c.close();
    }
  });

  test('a broken fallback index throws too (only 404 means empty)', async () => {
    const { repo } = await stub((req, res) => {
      if (req.url!.includes('/referrers/')) return void res.writeHead(404).end();
      res.writeHead(502).end();
    });
    const c = new RegistryClient({ retry: fast });
    await assert.rejects(c.referrers(repo, SUBJECT), (e: unknown) => isSignetError(e, 'REGISTRY') && /502/.test(e.message));
    await c.close();
  });

  test('pushReferrer: OCI-Subject header or a working API means no fallback index is written', async () => {
    const subject: Descriptor = { mediaType: MEDIA_TYPE.ociManifest, digest: SUBJECT, size: 10 };
    const referrer = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: MEDIA_TYPE.ociEmpty, digest: sha256Digest(Buffer.from('{}')), size: 2 }, layers: [], subject }));
    for (const mode of ['header', 'api']) {
      const { repo, hits } = await stub((req, res) => {
        if (req.method === 'PUT') return void res.writeHead(201, mode === 'header' ? { 'oci-subject': SUBJECT } : {}).end();
        if (req.url!.includes('/referrers/')) return void res.writeHead(200, { 'content-type': MEDIA_TYPE.ociIndex }).end('{"schemaVersion":2,"manifests":[]}');
        res.writeHead(500).end();
      });
      const c = new RegistryClient({ retry: fast });
      assert.equal(await c.pushReferrer(repo, referrer, MEDIA_TYPE.ociManifest, subject), sha256Digest(referrer));
      assert.equal(hits.filter((h) => h.startsWith('PUT')).length, 1, mode);
      assert.equal(hits[0], `PUT /v2/stub/app/manifests/${sha256Digest(referrer)}`);
      await c.close();
    }
  });
});
