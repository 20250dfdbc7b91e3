/**
 * copy's raw data path (oci/wire.ts): blobs above 1 MiB move registry to registry through a few fixed
 * buffers. The CLI's peak RSS stays low; a lying source, a dropped connection on either side, a
 * redirect to blob storage with a chunked body, TLS with bearer tokens and a silent destination all
 * behave as on the fetch path: digest checked, nothing committed on a mismatch, retries, clear errors.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request, type IncomingMessage, type Server } from 'node:http';
import { MEDIA_TYPE, RegistryClient, sha256Digest, type Descriptor, type Repo } from '../../src/oci/index.js';
import { copyImage, executeTransfer, planTransfer, registrySink, registrySource } from '../../src/cosign/copy.js';
import { loadImage, saveImage } from '../../src/cosign/save-load.js';
import { WIRE_CHANNEL } from '../../src/oci/wire.js';
import { SignetError, isSignetError } from '../../src/errors.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';
import { startPassThroughProxy, type PassThroughProxy, type ProxyHook } from '../helpers/pass-through-proxy.js';

let a: RunningRegistry;
let b: RunningRegistry;
let client: RegistryClient;
let n = 0;
const proxies: PassThroughProxy[] = [];
const work = mkdtempSync(join(tmpdir(), 'signet-wire-'));
const fresh = (host: string, name = 'app'): Repo => ({ registry: host, repository: `wire/${name}${++n}` });
const ref = (r: Repo, tag: string): string => `${r.registry}/${r.repository}:${tag}`;

before(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  client = new RegistryClient({});
});
after(async () => {
  for (const p of proxies) await p.close();
  await client.close();
  await Promise.all([a.stop(), b.stop()]);
  rmSync(work, { recursive: true, force: true });
});

/** Push an image of `layers` random layers of `mib` MiB; its tag `v1`. */
async function pushImage(c: RegistryClient, repo: Repo, layers: number, mib: number): Promise<{ layers: Descriptor[] }> {
  const descs: Descriptor[] = [];
  for (let i = 0; i < layers; i++) {
    const { digest, size } = await c.putBlob(repo, randomBytes(Math.round(mib * 1024 * 1024)));
    descs.push({ mediaType: MEDIA_TYPE.ociLayerGzip, digest, size });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: descs.map((l) => l.digest) } }));
  await c.putBlob(repo, config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: MEDIA_TYPE.ociConfig, digest: sha256Digest(config), size: config.length }, layers: descs }));
  await c.putManifest(repo, 'v1', manifest, MEDIA_TYPE.ociManifest);
  return { layers: descs };
}

/** The raw path's requests while `fn` runs: `METHOD status`. */
async function wireRequests<T>(fn: () => Promise<T>): Promise<{ value: T; seen: string[] }> {
  const seen: string[] = [];
  const listener = (m: unknown): void => {
    const { method, outcome } = m as { method: string; outcome: string };
    seen.push(`${method} ${outcome}`);
  };
  subscribe(WIRE_CHANNEL, listener);
  try {
    return { value: await fn(), seen };
  } finally {
    unsubscribe(WIRE_CHANNEL, listener);
  }
}

/** A pass-through proxy in front of `upstream` (see the helper), closed after the tests. */
async function proxy(upstream: string, hook?: ProxyHook): Promise<string> {
  const p = await startPassThroughProxy(upstream, hook);
  proxies.push(p);
  return p.host;
}

const isBlobGet = (req: IncomingMessage, digest: string): boolean => req.method === 'GET' && (req.url ?? '').endsWith(`/blobs/${digest}`);

test('copy, save and load of 128 MiB each peak far below what fetch left (~150-200 MiB)', async () => {
  const src = fresh(a.host);
  await pushImage(client, src, 8, 16);
  // The child reports its own high-water mark as it exits.
  const report =
    `import{readFileSync}from'node:fs';import{getHeapSpaceStatistics}from'node:v8';process.on('exit',()=>process.stderr.write('VmHWM '+/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status','utf8'))[1]+` +
    `' new_space '+getHeapSpaceStatistics().find((s)=>s.space_name==='new_space').space_size+'\\n'))`;
  const env = { NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(report)}` };
  const dir = join(work, `layout${++n}`);
  const runs: Array<[string, string[]]> = [
    ['copy', ['copy', ref(src, 'v1'), ref(fresh(b.host), 'v1')]],
    ['save', ['save', '--dir', dir, ref(src, 'v1')]],
    ['load', ['load', '--dir', dir, ref(fresh(b.host), 'v1')]],
  ];
  for (const [what, args] of runs) {
    const r = await runCli(args, { env });
    assert.equal(r.code, 0, r.stderr);
    const kib = Number(/VmHWM (\d+)/.exec(r.stderr)?.[1]);
    assert.ok(kib > 0, r.stderr);
    // Measured (400 MiB): 105/102/102 MiB on the raw path (a bare CLI is ~60); 200/165/164 through fetch.
    assert.ok(kib < 120 * 1024, `${what}: peak RSS ${Math.round(kib / 1024)} MiB`);
    // The young generation stays at its first size (4 MiB here); V8 would double it as it scavenges.
    const young = Number(/new_space (\d+)/.exec(r.stderr)?.[1]);
    assert.ok(young > 0 && young < 8 * 1024 * 1024, `${what}: new space ${Math.round(young / 1024)} KiB`);
  }
});

test('a destination slower than the source: the source waits on the pool and every byte arrives in order', async () => {
  const src = fresh(a.host);
  const { layers } = await pushImage(client, src, 1, 3);
  // Takes the PATCH body a piece at a time with pauses, so the source's buffers all wait on it.
  const slow = await proxy(b.host, (req, res) => {
    if (req.method !== 'PATCH') return false;
    const [host, port] = b.host.split(':') as [string, string];
    const up = request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.on('data', (d: Buffer) => {
      req.pause();
      up.write(d);
      setTimeout(() => req.resume(), 2);
    });
    req.on('end', () => up.end());
    return true;
  });
  const dst: Repo = { registry: slow, repository: fresh(b.host).repository };
  const stats = await copyImage({ client, source: ref(src, 'v1'), destination: ref(dst, 'v1') });
  assert.equal(stats.blobsUploaded, 2);
  assert.equal(sha256Digest(await client.getBlob(dst, layers[0]!.digest, { maxBytes: 4 << 20 })), layers[0]!.digest);
});

test('large blobs take the raw path and arrive whole; a second copy moves nothing', async () => {
  const src = fresh(a.host);
  const { layers } = await pushImage(client, src, 2, 3);
  const dst = fresh(b.host);
  const { value: stats, seen } = await wireRequests(() => copyImage({ client, source: ref(src, 'v1'), destination: ref(dst, 'v1') }));
  assert.deepEqual(seen.sort(), ['GET 200', 'GET 200', 'PATCH 202', 'PATCH 202']);
  assert.equal(stats.blobsUploaded, 3);
  for (const l of layers) assert.deepEqual(await client.getBlob(dst, l.digest, { maxBytes: 8 << 20 }), await client.getBlob(src, l.digest, { maxBytes: 8 << 20 }));
  const again = await copyImage({ client, source: ref(src, 'v1'), destination: ref(dst, 'v1') });
  assert.equal(again.blobsUploaded, 0);
});

test('a source that sends other bytes: MALFORMED naming the source, the upload cancelled, nothing committed', async () => {
  const src = fresh(a.host);
  const { layers } = await pushImage(client, src, 1, 2);
  const digest = layers[0]!.digest;
  const liar = await proxy(a.host, (req, res) => {
    if (!isBlobGet(req, digest)) return false;
    const [host, port] = a.host.split(':') as [string, string];
    request({ host, port: Number(port), method: 'GET', path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      let at = 0;
      r.on('data', (d: Buffer) => {
        // One byte flipped a megabyte in.
        if (at <= 1 << 20 && at + d.length > 1 << 20) d[(1 << 20) - at]! ^= 1;
        at += d.length;
        res.write(d);
      });
      r.on('end', () => res.end());
    }).end();
    return true;
  });
  const from: Repo = { registry: liar, repository: src.repository };
  const dst = fresh(b.host);
  await assert.rejects(copyImage({ client, source: ref(from, 'v1'), destination: ref(dst, 'v1') }), (e) => isSignetError(e, 'MALFORMED') && new RegExp(`blob ${digest} from ${liar}/${src.repository} has digest sha256:`).test(e.message));
  assert.equal(await client.blobExists(dst, digest), false);
  assert.equal(await client.headManifest(dst, 'v1'), null);
  // save reads the same way: refused, and no layout left behind.
  const dir = join(work, `liar${++n}`);
  await assert.rejects(saveImage({ client, image: ref(from, 'v1'), dir }), (e) => isSignetError(e, 'MALFORMED') && /refusing to save it/.test(e.message));
  assert.equal(existsSync(dir), false);
  assert.deepEqual(readdirSync(work).filter((f) => f.includes('partial')), []);
});

test('a source connection dropped mid-body, and a destination dropped mid-PATCH: the blob starts over and the copy completes', async () => {
  const src = fresh(a.host);
  const { layers } = await pushImage(client, src, 1, 2);
  const digest = layers[0]!.digest;
  let gets = 0;
  const flaky = await proxy(a.host, (req, res) => {
    if (!isBlobGet(req, digest) || ++gets > 1) return false;
    // The first GET: headers and half a megabyte, then the connection drops.
    res.writeHead(200, { 'content-length': String(layers[0]!.size), 'content-type': 'application/octet-stream' });
    res.write(randomBytes(512 * 1024), () => res.socket?.destroy());
    return true;
  });
  let patches = 0;
  const cut = await proxy(b.host, (req) => {
    if (req.method !== 'PATCH' || ++patches > 1) return false;
    req.once('data', () => req.socket.destroy());
    return true;
  });
  const from: Repo = { registry: flaky, repository: src.repository };
  const dst: Repo = { registry: cut, repository: fresh(b.host).repository };
  const { value: stats, seen } = await wireRequests(() => copyImage({ client, source: ref(from, 'v1'), destination: ref(dst, 'v1') }));
  assert.ok(gets >= 2 && patches >= 2, `${gets} GETs, ${patches} PATCHes`);
  assert.ok(seen.some((s) => s.startsWith('PATCH failed')), seen.join(', '));
  assert.equal(stats.blobsUploaded, 2);
  assert.equal(sha256Digest(await client.getBlob(dst, digest, { maxBytes: 4 << 20 })), digest);
});

test('a GET redirected to blob storage is followed without the registry credentials, and a chunked body is read', async () => {
  const basic = await startRegistry({ auth: 'basic' });
  try {
    const authed = new RegistryClient({ username: basic.username!, password: basic.password! });
    const src = fresh(basic.host);
    const { layers } = await pushImage(authed, src, 1, 2);
    const digest = layers[0]!.digest;
    const [host, port] = basic.host.split(':') as [string, string];
    let storageAuth: string | undefined = 'unset';
    let chunked = false;
    // "Blob storage": another origin serving the blob chunked (no Content-Length).
    const storage = await proxy(basic.host, (req, res) => {
      storageAuth = req.headers.authorization;
      request({ host, port: Number(port), method: 'GET', path: req.url, headers: { authorization: 'Basic ' + Buffer.from(`${basic.username}:${basic.password}`).toString('base64') } }, (r) => {
        res.writeHead(r.statusCode ?? 502, { 'content-type': 'application/octet-stream' });
        r.on('data', (d: Buffer) => res.write(d));
        r.on('end', () => {
          chunked = (res as unknown as { chunkedEncoding: boolean }).chunkedEncoding;
          res.end();
        });
      }).end();
      return true;
    });
    let registryAuth: string | undefined;
    const redirecting = await proxy(basic.host, (req, res) => {
      if (!isBlobGet(req, digest)) return false;
      registryAuth = req.headers.authorization;
      res.writeHead(307, { location: `http://${storage}${req.url}` });
      res.end();
      return true;
    });
    const dst = fresh(b.host);
    const { value: stats, seen } = await wireRequests(() => copyImage({ client: authed, source: ref({ registry: redirecting, repository: src.repository }, 'v1'), destination: ref(dst, 'v1') }));
    await authed.close();
    assert.match(registryAuth ?? '', /^Basic /);
    assert.equal(storageAuth, undefined);
    assert.equal(chunked, true);
    assert.deepEqual(seen.filter((s) => s.startsWith('GET')).sort(), ['GET 200', 'GET 307']);
    assert.equal(stats.blobsUploaded, 2);
    assert.equal(sha256Digest(await client.getBlob(dst, digest, { maxBytes: 4 << 20 })), digest);
  } finally {
    await basic.stop();
  }
});

test('TLS with bearer tokens on both sides: the raw path verifies the certificate and sends the tokens', async () => {
  const reg = await startRegistry({ tls: true, auth: 'token' });
  try {
    const opts = { username: reg.username!, password: reg.password!, caCertFile: reg.caCertFile! };
    const one = new RegistryClient(opts);
    const two = new RegistryClient(opts);
    const src = fresh(reg.host);
    const { layers } = await pushImage(one, src, 1, 2);
    // Two clients, so no cross-repository mount: the blob is copied as between registries.
    const dst = fresh(reg.host);
    const source = registrySource(one, src);
    const plan = await planTransfer(source, 'v1', { rootTag: 'v1' });
    const { value: stats, seen } = await wireRequests(() => executeTransfer(plan, source, registrySink(two, dst)));
    assert.deepEqual(seen.sort(), ['GET 200', 'PATCH 202']);
    assert.equal(stats.blobsUploaded, 2);
    assert.equal(sha256Digest(await two.getBlob(dst, layers[0]!.digest, { maxBytes: 4 << 20 })), layers[0]!.digest);
    // Without the CA the raw path is never reached: the ping already refuses the certificate.
    const untrusting = new RegistryClient({ username: reg.username!, password: reg.password! });
    await assert.rejects(copyImage({ client: untrusting, source: ref(src, 'v1'), destination: ref(fresh(b.host), 'v1') }), /TLS certificate not trusted/);
    await Promise.all([one.close(), two.close(), untrusting.close()]);
  } finally {
    await reg.stop();
  }
});

test('a destination that takes the whole PATCH and never answers: a TIMEOUT naming the wait, not a hang', async () => {
  const src = fresh(a.host);
  await pushImage(client, src, 1, 2);
  const silent = await proxy(b.host, (req) => {
    if (req.method !== 'PATCH') return false;
    req.resume();
    return true;
  });
  const quick = new RegistryClient({ timeouts: { headersMs: 400, bodyIdleMs: 400 } });
  try {
    await assert.rejects(
      copyImage({ client: quick, source: ref(src, 'v1'), destination: ref({ registry: silent, repository: fresh(b.host).repository }, 'v1') }),
      (e) => isSignetError(e, 'TIMEOUT') && new RegExp(`timed out waiting for response headers from ${silent}`).test(e.message),
    );
  } finally {
    await quick.close();
  }
});

test('a GET the raw path cannot take (a 401 to renew a token) goes to the fetch path, which copies the blob', async () => {
  const src = fresh(a.host);
  const { layers } = await pushImage(client, src, 1, 2);
  const digest = layers[0]!.digest;
  let refused = 0;
  const once = await proxy(a.host, (req, res) => {
    if (!isBlobGet(req, digest) || ++refused > 1) return false;
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'token expired' }] }));
    return true;
  });
  const dst = fresh(b.host);
  const { value: stats, seen } = await wireRequests(() => copyImage({ client, source: ref({ registry: once, repository: src.repository }, 'v1'), destination: ref(dst, 'v1') }));
  assert.deepEqual(seen, ['GET 401']);
  assert.equal(refused, 2);
  assert.equal(stats.blobsUploaded, 2);
  assert.equal(sha256Digest(await client.getBlob(dst, digest, { maxBytes: 4 << 20 })), digest);
});

test("the command's deadline ends a raw transfer that hangs, naming what it was waiting for", async () => {
  const src = fresh(a.host);
  await pushImage(client, src, 1, 2);
  const silent = await proxy(b.host, (req) => {
    if (req.method !== 'PATCH') return false;
    req.resume();
    return true;
  });
  const deadline = new AbortController();
  const bounded = new RegistryClient({ signal: deadline.signal });
  const timer = setTimeout(() => deadline.abort(new SignetError('TIMEOUT', 'timed out after 1s (-t/--timeout)')), 1000);
  try {
    await assert.rejects(
      copyImage({ client: bounded, source: ref(src, 'v1'), destination: ref({ registry: silent, repository: fresh(b.host).repository }, 'v1') }),
      (e) => isSignetError(e, 'TIMEOUT') && new RegExp(`timed out after 1s \\(-t/--timeout\\) while waiting for response headers from ${silent}`).test(e.message),
    );
  } finally {
    clearTimeout(timer);
    await bounded.close();
  }
});

test('a source registry gone mid-copy (connections refused): a NETWORK error after the retries, nothing committed', async () => {
  const src = fresh(a.host);
  const { layers } = await pushImage(client, src, 1, 2);
  const digest = layers[0]!.digest;
  let server: Server | undefined;
  const vanishing = await proxy(a.host, (req) => {
    if (!isBlobGet(req, digest)) return false;
    // The registry goes away: no more connections, this one dropped.
    server = proxies.at(-1)!.server;
    server!.close();
    server!.closeAllConnections();
    return true;
  });
  const dst = fresh(b.host);
  await assert.rejects(copyImage({ client, source: ref({ registry: vanishing, repository: src.repository }, 'v1'), destination: ref(dst, 'v1') }), (e) => isSignetError(e, 'NETWORK') && /ECONNREFUSED/.test(e.message));
  assert.ok(server);
  assert.equal(await client.blobExists(dst, digest), false);
});

test('load of a layout whose large blob file was altered: MALFORMED naming the layout, nothing committed', async () => {
  const src = fresh(a.host);
  const { layers } = await pushImage(client, src, 1, 2);
  const digest = layers[0]!.digest;
  const dir = join(work, `altered${++n}`);
  await saveImage({ client, image: ref(src, 'v1'), dir });
  const file = join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1]! ^= 1;
  writeFileSync(file, bytes);
  const dst = fresh(b.host);
  const { value: outcome, seen } = await wireRequests(() => loadImage({ client, dir, image: ref(dst, 'v1') }).then(() => undefined, (e: unknown) => e));
  assert.ok(isSignetError(outcome, 'MALFORMED') && new RegExp(`blob ${digest} from OCI layout ${dir} has digest sha256:`).test(outcome.message), String(outcome));
  assert.deepEqual(seen, ['PATCH 202']);
  assert.equal(await client.blobExists(dst, digest), false);
  assert.equal(await client.headManifest(dst, 'v1'), null);
});
