/**
 * Moving signed images: copy between two real docker-registry instances (distribution 2.x has no
 * referrers API, so bundles go through the fallback tag), save/load through an OCI layout that skopeo
 * reads, a layout shaped as cosign writes it, verify --local-image with the registries stopped, and
 * attach/generate/download sbom.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, signerFromPrivateKey, publicKeyInfo } from '../../src/keys/index.js';
import { MEDIA_TYPE, RegistryClient, type Repo } from '../../src/oci/index.js';
import { signImages } from '../../src/cosign/sign.js';
import { attestImages } from '../../src/cosign/attest.js';
import { verifyOne } from '../../src/cosign/verify.js';
import { copyImage } from '../../src/cosign/copy.js';
import { saveImage, loadImage } from '../../src/cosign/save-load.js';
import { attachmentTag, buildLegacySignatureManifest, sha256Digest } from '../../src/cosign/storage.js';
import { simpleSigningPayload } from '../../src/cosign/payload.js';
import { pushIndex, pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';
import { startPassThroughProxy } from '../helpers/pass-through-proxy.js';
import { aptInstall } from '../helpers/apt.js';

let a: RunningRegistry;
let b: RunningRegistry;
let client: RegistryClient;
const keys = generateKeyPair('ecdsa-p256');
const signer = signerFromPrivateKey(keys.privateKey);
const pub = publicKeyInfo(keys.publicKey);
const work = mkdtempSync(join(tmpdir(), 'signet-move-'));
const pubFile = join(work, 'cosign.pub');
writeFileSync(pubFile, keys.publicKey.export({ type: 'spki', format: 'pem' }) as string);
let n = 0;
const fresh = (reg: RunningRegistry, name = 'app'): Repo => ({ registry: reg.host, repository: `move/${name}${++n}` });
const ref = (r: Repo, tagOrDigest: string): string => `${r.registry}/${r.repository}${tagOrDigest.startsWith('sha256:') ? '@' : ':'}${tagOrDigest}`;
const verifyKeyed = (c: { client: RegistryClient | any }, image: string) => verifyOne({ client: c.client, key: pub, images: [image], ignoreTlog: true }, image);

/** A hand-written `.att` image as cosign's legacy attest writes it: one DSSE layer. */
async function pushAttestation(repo: Repo, digest: string): Promise<string> {
  const envelope = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}').toString('base64'), signatures: [{ keyid: '', sig: 'AAAA' }] }));
  const layer = { mediaType: 'application/vnd.dsse.envelope.v1+json', size: envelope.length, digest: sha256Digest(envelope), annotations: { 'dev.cosignproject.cosign/signature': '', predicateType: 'https://slsa.dev/provenance/v0.2' } };
  const built = buildLegacySignatureManifest([{ descriptor: layer }]);
  await client.putBlob(repo, envelope);
  await client.putBlob(repo, built.config);
  return client.putManifest(repo, attachmentTag(digest, 'att'), built.manifest, built.mediaType);
}

/** A proxy in front of a registry that counts blob writes (POST/PUT/PATCH under /blobs/). */
async function countingProxy(target: RunningRegistry): Promise<{ host: string; writes: () => number; close: () => Promise<void> }> {
  let writes = 0;
  const { host, close } = await startPassThroughProxy(target.host, (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.url?.includes('/blobs/')) writes++;
    return false;
  });
  return { host, writes: () => writes, close };
}

before(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  client = new RegistryClient({ streamChunkSize: 64 * 1024 });
});
after(async () => {
  await client.close();
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('copy', () => {
  test('keeps every signature, attestation and referrer bundle; a second copy pushes no blob', async () => {
    const src = fresh(a);
    const idx = await pushIndex(client, src, 'v1');
    await signImages({ client, signer, images: [ref(src, 'v1')], recursive: true });
    await signImages({ client, signer, images: [ref(src, 'v1')], newBundleFormat: false });
    await pushAttestation(src, idx.digest);
    const proxy = await countingProxy(b);
    try {
      const dst: Repo = { registry: proxy.host, repository: `move/copied${++n}` };
      const stats = await copyImage({ client, source: ref(src, 'v1'), destination: ref(dst, 'v1') });
      assert.equal(stats.root.digest, idx.digest);
      assert.equal(stats.referrers, 3, 'the bundle of the index and of both platform images');
      assert.equal(stats.signatures, 1);
      assert.equal(stats.attestations, 1);
      assert.ok(proxy.writes() > 0);
      assert.equal((await client.headManifest(dst, 'v1'))?.digest, idx.digest);
      // Both formats verify at the destination, for the index and for each platform image.
      const v = await verifyKeyed({ client }, ref(dst, 'v1'));
      assert.deepEqual(v.verified.map((s) => s.source).sort(), ['legacy', 'referrer']);
      for (const img of idx.images) assert.equal((await verifyKeyed({ client }, ref(dst, img.digest))).verified.length, 1);
      assert.ok(await client.headManifest(dst, attachmentTag(idx.digest, 'att')));

      const before = proxy.writes();
      const again = await copyImage({ client, source: ref(src, 'v1'), destination: ref(dst, 'v1') });
      assert.equal(proxy.writes(), before, 'the second copy wrote no blob');
      assert.equal(again.blobsUploaded + again.blobsMounted, 0);
      assert.equal(again.manifestsPushed, 0);
    } finally {
      await proxy.close();
    }
  });

  test('many referrers of one image reach the destination in one fallback-index update, not one per referrer', async () => {
    const src = fresh(a);
    const img = await pushRandomImage(client, src, 'v1');
    const N = 6;
    for (let i = 0; i < N; i++) await signImages({ client, signer, images: [ref(src, 'v1')], annotations: { n: String(i) } });
    const dst = fresh(b, 'batched');
    const copier = new RegistryClient({ streamChunkSize: 64 * 1024 });
    const indexPuts: string[] = [];
    const original = copier.transport.request.bind(copier.transport);
    copier.transport.request = (req) => {
      if (req.method === 'PUT' && /\/manifests\/sha256-[a-f0-9]{64}$/.test(req.path)) indexPuts.push(req.path);
      return original(req);
    };
    try {
      const stats = await copyImage({ client: copier, source: ref(src, 'v1'), destination: ref(dst, 'v1') });
      assert.equal(stats.referrers, N);
      assert.equal(indexPuts.length, 1, `fallback index written ${indexPuts.length} times`);
      const found = await client.referrers(dst, img.digest);
      assert.deepEqual(found.manifests.map((d) => d.digest).sort(), (await client.referrers(src, img.digest)).manifests.map((d) => d.digest).sort());
      assert.equal(found.manifests.length, N);
      assert.equal((await verifyKeyed({ client }, ref(dst, 'v1'))).verified.length, N);
    } finally {
      await copier.close();
    }
  });

  test('a blob upload cut off mid-stream starts over from the source and the copy completes', async () => {
    const src = fresh(a);
    const img = await pushRandomImage(client, src, 'v1');
    // Layers above the 64 KiB monolithic limit, so they stream in one PATCH.
    const big = Buffer.alloc(512 * 1024, 7);
    const layer = await client.putBlob(src, big);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: img.config, layers: [img.layer, { mediaType: MEDIA_TYPE.ociLayerGzip, digest: layer.digest, size: layer.size }] }));
    await client.putManifest(src, 'big', manifest, MEDIA_TYPE.ociManifest);
    let patches = 0;
    // Drops the first streamed PATCH's connection once some of its body has arrived.
    const cutting = await startPassThroughProxy(b.host, (req) => {
      if (req.method !== 'PATCH' || ++patches !== 1) return false;
      req.once('data', () => req.socket.destroy());
      return true;
    });
    try {
      const dst: Repo = { registry: cutting.host, repository: `move/cut${++n}` };
      const stats = await copyImage({ client, source: ref(src, 'big'), destination: ref(dst, 'big') });
      assert.ok(patches >= 2, `${patches} PATCH requests`);
      assert.equal(stats.blobsUploaded, 3);
      assert.deepEqual(await client.getBlob(dst, layer.digest), big);
    } finally {
      await cutting.close();
    }
  });

  test('within one registry, blobs are mounted across repositories', async () => {
    const src = fresh(a);
    await pushRandomImage(client, src, 'v1');
    await signImages({ client, signer, images: [ref(src, 'v1')] });
    const dst = fresh(a, 'mounted');
    const stats = await copyImage({ client, source: ref(src, 'v1'), destination: ref(dst, 'v1') });
    assert.equal(stats.blobsUploaded, 0);
    assert.ok(stats.blobsMounted >= 3, `mounted ${stats.blobsMounted}`);
    assert.equal((await verifyKeyed({ client }, ref(dst, 'v1'))).verified.length, 1);
  });

  test('--only sig copies the signatures and not the image; --platform one image of an index', async () => {
    const src = fresh(a);
    const idx = await pushIndex(client, src, 'v1');
    await signImages({ client, signer, images: [ref(src, 'v1')], newBundleFormat: false, recursive: true });
    const dst = fresh(b);
    const only = await copyImage({ client, source: ref(src, 'v1'), destination: ref(dst, 'v1'), only: ['sig'] });
    assert.equal(only.signatures, 3);
    assert.equal(await client.headManifest(dst, 'v1'), null);
    assert.ok(await client.headManifest(dst, attachmentTag(idx.digest, 'sig')));
    const arm = idx.images[1]!;
    const dst2 = fresh(b);
    const p = await copyImage({ client, source: ref(src, 'v1'), destination: ref(dst2, 'arm'), platform: 'linux/arm64' });
    assert.equal(p.root.digest, arm.digest);
    assert.equal((await client.headManifest(dst2, 'arm'))?.digest, arm.digest);
    assert.equal((await verifyKeyed({ client }, ref(dst2, 'arm'))).verified.length, 1);
  });

  test('an existing destination tag naming something else is refused without -f, before anything is pushed', async () => {
    const src = fresh(a);
    const img = await pushRandomImage(client, src, 'v1');
    await signImages({ client, signer, images: [ref(src, 'v1')], newBundleFormat: false });
    const dst = fresh(b);
    const other = await pushRandomImage(client, dst, 'v1');
    const r = await runCli(['copy', ref(src, 'v1'), ref(dst, 'v1')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Error: .*:v1 already exists .*use -f to overwrite$/m);
    assert.equal((await client.headManifest(dst, 'v1'))?.digest, other.digest);
    assert.equal(await client.headManifest(dst, attachmentTag(img.digest, 'sig')), null, 'nothing was pushed');
    const f = await runCli(['copy', '-f', ref(src, 'v1'), ref(dst, 'v1')]);
    assert.equal(f.code, 0, f.stderr);
    assert.equal((await client.headManifest(dst, 'v1'))?.digest, img.digest);
  });

  test('copy to the same reference, an unknown image and a bad --only are clear one-line errors', async () => {
    const src = fresh(a);
    await pushRandomImage(client, src, 'v1');
    const same = await runCli(['copy', ref(src, 'v1'), ref(src, 'v1')]);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /same/);
    const dst = fresh(b);
    const missing = await runCli(['copy', ref(src, 'nope'), ref(dst, 'v1')]);
    assert.equal(missing.code, 11, missing.stderr);
    assert.match(missing.stderr, /not found/);
    assert.equal(await client.headManifest(dst, 'v1'), null);
    const bad = await runCli(['copy', '--only', 'sig,bogus', ref(src, 'v1'), ref(dst, 'v1')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--only/);
  });
});

describe('save and load', () => {
  test('skopeo copies a saved layout; load into a second registry verifies; --local-image verifies with registries stopped', async () => {
    if (!existsSync('/usr/bin/skopeo')) aptInstall('skopeo');
    const reg1 = await startRegistry();
    const reg2 = await startRegistry();
    try {
      const src: Repo = { registry: reg1.host, repository: 'saved/app' };
      const img = await pushRandomImage(client, src, 'v1');
      await signImages({ client, signer, images: [ref(src, 'v1')] });
      await signImages({ client, signer, images: [ref(src, 'v1')], newBundleFormat: false });
      const dir = join(work, 'layout1');
      const s = await runCli(['save', '--dir', dir, ref(src, 'v1')]);
      assert.equal(s.code, 0, s.stderr);
      assert.deepEqual(readdirSync(work).filter((f) => f.includes('.partial-')), [], 'no partial directory left');
      const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
      assert.deepEqual(
        index.manifests.map((m: any) => m.annotations.kind),
        ['dev.cosignproject.cosign/image', 'dev.cosignproject.cosign/sigs', 'dev.signet/referrer'],
      );

      // An OCI tool no one here wrote reads the layout.
      execFileSync('skopeo', ['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${dir}:v1`, `docker://${reg2.host}/skopeo/app:v1`], { stdio: 'pipe' });
      assert.equal((await client.headManifest({ registry: reg2.host, repository: 'skopeo/app' }, 'v1'))?.digest, img.digest);

      const dst: Repo = { registry: reg2.host, repository: 'loaded/app' };
      const l = await runCli(['load', '--dir', dir, ref(dst, 'v2')]);
      assert.equal(l.code, 0, l.stderr);
      const v = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', ref(dst, 'v2')]);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(JSON.parse(v.stdout).length, 2);
    } finally {
      await reg1.stop();
      await reg2.stop();
    }
    const local = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', '--local-image', join(work, 'layout1')]);
    assert.equal(local.code, 0, local.stderr);
    assert.equal(JSON.parse(local.stdout).length, 2);
    assert.match(local.stderr, new RegExp(`Verification for ${join(work, 'layout1')} --`));
    const wrongKey = join(work, 'other.pub');
    writeFileSync(wrongKey, generateKeyPair('ecdsa-p256').publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const bad = await runCli(['verify', '--key', wrongKey, '--insecure-ignore-tlog', '--local-image', join(work, 'layout1')]);
    assert.equal(bad.code, 12, bad.stderr);
  });

  test('verify-attestation --local-image: attestations of both formats verify from a saved layout with the registry stopped', async () => {
    const reg = await startRegistry();
    const dir = join(work, 'layout-att');
    try {
      const src: Repo = { registry: reg.host, repository: 'saved/attested' };
      await pushRandomImage(client, src, 'v1');
      // A custom predicate as a referrer bundle (cosign v3's default) and a cyclonedx one in the legacy .att image.
      await attestImages({ client, signer, images: [ref(src, 'v1')], predicate: Buffer.from('{"result":"passed"}'), type: 'custom' });
      await attestImages({ client, signer, images: [ref(src, 'v1')], predicate: Buffer.from('{"bomFormat":"CycloneDX"}'), type: 'cyclonedx', newBundleFormat: false });
      const s = await runCli(['save', '--dir', dir, ref(src, 'v1')]);
      assert.equal(s.code, 0, s.stderr);
    } finally {
      await reg.stop();
    }
    for (const type of ['custom', 'cyclonedx']) {
      const v = await runCli(['verify-attestation', '--key', pubFile, '--insecure-ignore-tlog', '--type', type, '--local-image', dir]);
      assert.equal(v.code, 0, `${type}: ${v.stderr}`);
      const lines = v.stdout.trim().split('\n');
      assert.equal(lines.length, 1, v.stdout);
      const statement = JSON.parse(Buffer.from(JSON.parse(lines[0]!).payload, 'base64').toString('utf8'));
      assert.equal(statement.predicateType, type === 'custom' ? 'https://cosign.sigstore.dev/attestation/v1' : 'https://cyclonedx.org/bom');
    }
    const wrongKey = join(work, 'other-att.pub');
    writeFileSync(wrongKey, generateKeyPair('ecdsa-p256').publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const bad = await runCli(['verify-attestation', '--key', wrongKey, '--insecure-ignore-tlog', '--local-image', dir]);
    assert.equal(bad.code, 12, bad.stderr);
    const missing = await runCli(['verify-attestation', '--key', pubFile, '--insecure-ignore-tlog', '--local-image', join(work, 'no-such-layout')]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr.trim().split('\n').at(-1)!, /^Error: OCI layout .*no-such-layout: no such file/, missing.stderr);
  });

  test('an index with per-platform signatures saves and loads whole', async () => {
    const src = fresh(a);
    const idx = await pushIndex(client, src, 'v1');
    await signImages({ client, signer, images: [ref(src, 'v1')], recursive: true, newBundleFormat: false });
    const dir = join(work, 'layout-index');
    const saved = await saveImage({ client, image: ref(src, 'v1'), dir });
    assert.equal(saved.signatures, 3);
    const dst = fresh(b);
    await loadImage({ client, dir, image: ref(dst, 'v1') });
    assert.equal((await client.headManifest(dst, 'v1'))?.digest, idx.digest);
    for (const d of [idx.digest, ...idx.images.map((i) => i.digest)]) assert.equal((await verifyKeyed({ client }, ref(dst, d))).verified.length, 1);
  });

  test('a layout shaped as cosign save writes it loads and verifies', async () => {
    // Written here by hand, not by Signet's writer: cosign's kind annotations and nothing else.
    const dir = join(work, 'cosign-layout');
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    const blob = (bytes: Buffer): { digest: string; size: number } => {
      const digest = sha256Digest(bytes);
      writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
      return { digest, size: bytes.length };
    };
    const config = blob(Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'));
    const layer = blob(Buffer.from('not really a tarball'));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: { mediaType: MEDIA_TYPE.ociConfig, ...config }, layers: [{ mediaType: MEDIA_TYPE.ociLayerGzip, ...layer }] }));
    const image = blob(manifest);
    const payload = simpleSigningPayload('registry.example/app', image.digest);
    const sigLayer = { mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', ...blob(payload), annotations: { 'dev.cosignproject.cosign/signature': (await signer.sign(payload)).toString('base64') } };
    const sigs = buildLegacySignatureManifest([{ descriptor: sigLayer }]);
    blob(sigs.config);
    const sigManifest = blob(sigs.manifest);
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociIndex,
        manifests: [
          { mediaType: MEDIA_TYPE.ociManifest, ...image, annotations: { kind: 'dev.cosignproject.cosign/image' } },
          { mediaType: MEDIA_TYPE.ociManifest, ...sigManifest, annotations: { kind: 'dev.cosignproject.cosign/sigs' } },
        ],
      }),
    );
    const local = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', '--local-image', dir]);
    assert.equal(local.code, 0, local.stderr);
    const dst = fresh(b);
    const l = await runCli(['load', '--dir', dir, ref(dst, 'v1')]);
    assert.equal(l.code, 0, l.stderr);
    assert.equal((await client.headManifest(dst, 'v1'))?.digest, image.digest);
    assert.equal((await verifyKeyed({ client }, ref(dst, 'v1'))).verified[0]!.source, 'legacy');
  });

  test('bad layouts and failed saves: clear lines, nothing half-written or pushed', async () => {
    const missing = await runCli(['load', '--dir', join(work, 'no-such-dir'), `${b.host}/move/x:v1`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: OCI layout .*no-such-dir: no such file$/m);
    const noLocal = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', '--local-image', join(work, 'no-such-dir')]);
    assert.equal(noLocal.code, 1);
    assert.match(noLocal.stderr, /no such file/);

    const src = fresh(a);
    const img = await pushRandomImage(client, src, 'v1');
    await signImages({ client, signer, images: [ref(src, 'v1')] });
    const dir = join(work, 'layout-bad');
    await saveImage({ client, image: ref(src, 'v1'), dir });

    const corruptIndex = join(work, 'layout-corrupt-index');
    execFileSync('cp', ['-r', dir, corruptIndex]);
    writeFileSync(join(corruptIndex, 'index.json'), '{"schemaVersion": 2, "manifests": [');
    const ci = await runCli(['load', '--dir', corruptIndex, `${b.host}/move/ci:v1`]);
    assert.equal(ci.code, 1);
    assert.match(ci.stderr, /^Error: .*index\.json is not valid JSON$/m);

    // A layer whose bytes no longer match its digest is refused before the registry commits it.
    const corruptBlob = join(work, 'layout-corrupt-blob');
    execFileSync('cp', ['-r', dir, corruptBlob]);
    writeFileSync(join(corruptBlob, 'blobs', 'sha256', img.layer.digest.slice(7)), 'tampered');
    const dst = fresh(b);
    const cb = await runCli(['load', '--dir', corruptBlob, ref(dst, 'v1')]);
    assert.equal(cb.code, 1);
    assert.match(cb.stderr, new RegExp(`^Error: blob ${img.layer.digest} from OCI layout .* has digest sha256:[0-9a-f]+: refusing to copy it$`, 'm'));
    assert.equal(await client.headManifest(dst, 'v1'), null);
    assert.equal(await client.blobExists(dst, img.layer.digest), false);

    // A layout missing a blob is refused before anything is written.
    const missingBlob = join(work, 'layout-missing-blob');
    execFileSync('cp', ['-r', dir, missingBlob]);
    execFileSync('rm', [join(missingBlob, 'blobs', 'sha256', img.layer.digest.slice(7))]);
    const dst2 = fresh(b);
    const mb = await runCli(['load', '--dir', missingBlob, ref(dst2, 'v1')]);
    assert.equal(mb.code, 11, mb.stderr);
    assert.match(mb.stderr, new RegExp(`^Error: blob ${img.layer.digest} is missing from the OCI layout`, 'm'));
    assert.equal(await client.blobExists(dst2, img.config.digest), false, 'not even the config was pushed');

    // Saving into a non-empty directory is refused; a save that fails midway leaves no directory.
    const occupied = await runCli(['save', '--dir', dir, ref(src, 'v1')]);
    assert.equal(occupied.code, 2);
    assert.match(occupied.stderr, /not empty/);
    await client.transport.request({ registry: src.registry, method: 'DELETE', path: `/v2/${src.repository}/blobs/${img.layer.digest}`, scopes: [`repository:${src.repository}:*`] }).then((r) => r.body?.cancel());
    const target = join(work, 'layout-failed');
    const failed = await runCli(['save', '--dir', target, ref(src, 'v1')]);
    assert.equal(failed.code, 11, failed.stderr);
    assert.equal(existsSync(target), false);
    assert.deepEqual(readdirSync(work).filter((f) => f.includes('.partial-')), []);
    const unknown = await runCli(['save', '--dir', target, ref(src, 'nope')]);
    assert.equal(unknown.code, 11);
    assert.equal(existsSync(target), false);
  });
});

describe('attach, generate, download sbom', () => {
  test('a payload from generate signed with openssl and attached verifies with verify --key', async () => {
    const repo = fresh(a);
    const img = await pushRandomImage(client, repo, 'v1');
    const keyPem = join(work, 'openssl.key');
    const pubPem = join(work, 'openssl.pub');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPem]);
    execFileSync('openssl', ['ec', '-in', keyPem, '-pubout', '-out', pubPem], { stdio: 'ignore' });
    const payloadFile = join(work, 'payload.json');
    const g = await runCli(['--output-file', payloadFile, 'generate', '-a', 'build=7', ref(repo, 'v1')]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(JSON.parse(readFileSync(payloadFile, 'utf8')).critical.image['docker-manifest-digest'], img.digest);
    const sigFile = join(work, 'payload.sig');
    execFileSync('openssl', ['dgst', '-sha256', '-sign', keyPem, '-out', sigFile, payloadFile]);
    const at = await runCli(['attach', 'signature', '--payload', payloadFile, '--signature', sigFile, ref(repo, 'v1')]);
    assert.equal(at.code, 0, at.stderr);
    const v = await runCli(['verify', '--key', pubPem, '--insecure-ignore-tlog', '-a', 'build=7', ref(repo, 'v1')]);
    assert.equal(v.code, 0, v.stderr);
    // Base64 (cosign's form) works too, and the same signature is not added twice.
    const b64 = join(work, 'payload.sig.b64');
    writeFileSync(b64, readFileSync(sigFile).toString('base64'));
    const again = await runCli(['attach', 'signature', '--payload', payloadFile, '--signature', b64, ref(repo, 'v1')]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already attached/);
    // A payload for another image is refused.
    const other = await pushRandomImage(client, repo, 'v2');
    const wrong = await runCli(['attach', 'signature', '--payload', payloadFile, '--signature', sigFile, ref(repo, 'v2')]);
    assert.equal(wrong.code, 2);
    assert.equal(await client.headManifest(repo, attachmentTag(other.digest, 'sig')), null);
  });

  test('attach sbom stores cosign media types; download sbom reads it back; copy carries it', async () => {
    const repo = fresh(a);
    const img = await pushRandomImage(client, repo, 'v1');
    const spdx = join(work, 'sbom.spdx.json');
    writeFileSync(spdx, '{"spdxVersion":"SPDX-2.3","name":"app"}');
    const at = await runCli(['attach', 'sbom', '--sbom', spdx, ref(repo, 'v1')]);
    assert.equal(at.code, 0, at.stderr);
    const d = await runCli(['download', 'sbom', ref(repo, 'v1')]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout, readFileSync(spdx, 'utf8'));
    assert.match(d.stderr, /media type: spdx\+json/);
    const cdx = join(work, 'bom.xml');
    writeFileSync(cdx, '<bom xmlns="http://cyclonedx.org/schema/bom/1.4"/>');
    assert.equal((await runCli(['attach', 'sbom', '--type', 'cyclonedx', '--sbom', cdx, ref(repo, 'v1')])).code, 0);
    assert.match((await runCli(['download', 'sbom', ref(repo, 'v1')])).stderr, /application\/vnd\.cyclonedx\+xml/);
    const dst = fresh(b);
    const c = await copyImage({ client, source: ref(repo, 'v1'), destination: ref(dst, 'v1') });
    assert.equal(c.sboms, 1);
    assert.equal((await runCli(['download', 'sbom', ref(dst, 'v1')])).stdout, readFileSync(cdx, 'utf8'));
    const none = await runCli(['download', 'sbom', ref(dst, img.digest).replace(img.digest, (await pushRandomImage(client, dst, 'v9')).digest)]);
    assert.equal(none.code, 11);
    const badType = await runCli(['attach', 'sbom', '--type', 'bogus', '--sbom', cdx, ref(repo, 'v1')]);
    assert.equal(badType.code, 2);
  });
});
