/**
 * Signing and verifying images end to end against the real docker-registry (distribution 2.8, which has
 * no referrers API, so v3 signatures go through the `sha256-<hex>` fallback index).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo, signerFromPrivateKey } from '../../src/keys/index.js';
import { RegistryClient } from '../../src/oci/index.js';
import { signImages, type SignImagesOptions } from '../../src/cosign/sign.js';
import { verifyImages, verifyOne } from '../../src/cosign/verify.js';
import { attachmentTag, buildLegacySignatureManifest, parseImageManifest, sha256Digest } from '../../src/cosign/storage.js';
import { isSignetError } from '../../src/errors.js';
import { pushIndex, pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';

let reg: RunningRegistry;
let client: RegistryClient;
const keys = generateKeyPair('ecdsa-p256');
const signer = signerFromPrivateKey(keys.privateKey);
const pub = publicKeyInfo(keys.publicKey);
const other = publicKeyInfo(generateKeyPair('ecdsa-p256').publicKey);
let n = 0;
const repoOf = () => ({ registry: reg.host, repository: `cosign/app${++n}` });
const sign = (images: string[], o: Partial<SignImagesOptions> = {}) => signImages({ client, signer, images, ...o });
const verify = (image: string, o: Record<string, unknown> = {}) => verifyOne({ client, key: pub, images: [image], ignoreTlog: true, ...o }, image);

before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({});
});
after(async () => {
  await client.close();
  await reg.stop();
});

describe('v3 bundle format (default)', () => {
  test('sign then verify; the bundle is a referrer in the fallback index with artifactType and annotations', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}:v1`;
    const events: string[] = [];
    const [signed] = await sign([ref], { annotations: { build: '42' }, onEvent: (m) => events.push(m) });
    assert.equal(signed!.digest, img.digest);
    assert.ok(events.some((e) => e.includes('Resolved') && e.includes(img.digest)), 'the user is told the tag was resolved');
    const { manifests, source } = await client.referrers(repo, img.digest);
    assert.equal(source, 'tag');
    assert.equal(manifests.length, 1);
    assert.equal(manifests[0]!.artifactType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(manifests[0]!.annotations?.['dev.sigstore.bundle.predicateType'], 'https://sigstore.dev/cosign/sign/v1');
    const v = await verify(ref, { annotations: { build: '42' } });
    assert.equal(v.verified.length, 1);
    assert.equal(v.verified[0]!.source, 'referrer');
    assert.deepEqual(v.verified[0]!.claims.optional, { build: '42' });
    const statement = JSON.parse(v.verified[0]!.payload.toString());
    assert.deepEqual(statement.subject, [{ digest: { sha256: img.digest.slice(7) }, annotations: { build: '42' } }]);
  });

  test('a signature by another key, a missing annotation, an unsigned image each fail for that reason', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    await assert.rejects(verify(ref), (e) => isSignetError(e, 'NO_SIGNATURES'));
    await sign([ref], { annotations: { env: 'prod' } });
    await assert.rejects(verifyOne({ client, key: other, images: [ref], ignoreTlog: true }, ref), (e) => isSignetError(e, 'NO_MATCHING_SIGNATURES') && /does not verify|signature/.test(e.message));
    await assert.rejects(verify(ref, { annotations: { env: 'dev' } }), (e) => isSignetError(e, 'NO_MATCHING_SIGNATURES'));
    await verify(ref, { annotations: { env: 'prod' } });
  });

  test('without --insecure-ignore-tlog and no log configured, verification says so', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    await sign([ref]);
    await assert.rejects(verifyOne({ client, key: pub, images: [ref] }, ref), (e) => isSignetError(e, 'NO_MATCHING_SIGNATURES') && /transparency log/.test(e.message));
  });

  test('concurrent signers all land in the fallback index', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    await Promise.all(Array.from({ length: 5 }, (_, i) => sign([ref], { annotations: { n: String(i) } })));
    const { manifests } = await client.referrers(repo, img.digest);
    assert.equal(manifests.length, 5);
    const v = await verify(ref);
    assert.equal(v.verified.length, 5);
  });
});

describe('legacy .sig format', () => {
  test('sign, re-sign without duplicates, add a second signature, verify both', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}:v1`;
    await sign([ref], { newBundleFormat: false });
    const again = await sign([ref], { newBundleFormat: false });
    assert.equal(again[0]!.unchanged, true);
    await sign([ref], { newBundleFormat: false, annotations: { a: 'b' } });
    const sig = await client.getManifest(repo, attachmentTag(img.digest, 'sig'));
    const layers = parseImageManifest(sig.bytes).layers;
    assert.equal(layers.length, 2);
    assert.equal(layers[0]!.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    const payload = await client.getBlob(repo, layers[0]!.digest);
    assert.equal(
      payload.toString(),
      `{"critical":{"identity":{"docker-reference":"${repo.registry}/${repo.repository}"},"image":{"docker-manifest-digest":"${img.digest}"},"type":"cosign container image signature"},"optional":null}`,
    );
    const v = await verify(ref);
    assert.equal(v.verified.length, 2);
    assert.ok(v.verified.every((s) => s.source === 'legacy'));
    const filtered = await verify(ref, { annotations: { a: 'b' } });
    assert.equal(filtered.verified.length, 1);
  });

  test('concurrent legacy signers do not lose each other\'s signatures', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    // Half share this client, half have their own (as separate processes would).
    const others = [0, 1, 2].map(() => new RegistryClient({}));
    try {
      await Promise.all(Array.from({ length: 6 }, (_, i) => sign([ref], { newBundleFormat: false, annotations: { n: String(i) }, client: i % 2 ? others[i >> 1]! : client })));
    } finally {
      await Promise.all(others.map((c) => c.close()));
    }
    const layers = parseImageManifest((await client.getManifest(repo, attachmentTag(img.digest, 'sig'))).bytes).layers;
    assert.equal(layers.length, 6);
  });

  test('a tampered payload fails verification; the good signature beside it still verifies', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    await sign([ref], { newBundleFormat: false });
    const tag = attachmentTag(img.digest, 'sig');
    const layer = parseImageManifest((await client.getManifest(repo, tag)).bytes).layers[0]!;
    const original = await client.getBlob(repo, layer.digest);
    const tampered = Buffer.from(original.toString().replace('"optional":null', '"optional":{"evil":"yes"}'));
    await client.putBlob(repo, tampered);
    const bad = { ...layer, digest: sha256Digest(tampered), size: tampered.length };
    const onlyBad = buildLegacySignatureManifest([{ descriptor: bad }]);
    await client.putBlob(repo, onlyBad.config);
    await client.putManifest(repo, tag, onlyBad.manifest, onlyBad.mediaType);
    await assert.rejects(verify(ref), (e) => isSignetError(e, 'NO_MATCHING_SIGNATURES') && /does not verify/.test(e.message));
    const both = buildLegacySignatureManifest([{ descriptor: bad }, { descriptor: layer }]);
    await client.putBlob(repo, both.config);
    await client.putManifest(repo, tag, both.manifest, both.mediaType);
    const v = await verify(ref);
    assert.equal(v.verified.length, 1);
    assert.equal(v.rejected.length, 1);
  });

  test('a signature for another image is refused by the claim check', async () => {
    const repo = repoOf();
    const a = await pushRandomImage(client, repo, 'a');
    const b = await pushRandomImage(client, repo, 'b');
    await sign([`${repo.registry}/${repo.repository}@${a.digest}`], { newBundleFormat: false });
    // Copy a's signature image to b's .sig tag: the signature is valid, the claim is not.
    const sigA = await client.getManifest(repo, attachmentTag(a.digest, 'sig'));
    await client.putManifest(repo, attachmentTag(b.digest, 'sig'), sigA.bytes, sigA.mediaType);
    await assert.rejects(verify(`${repo.registry}/${repo.repository}@${b.digest}`), (e) => isSignetError(e, 'NO_MATCHING_SIGNATURES') && /not for the image/.test(e.message));
  });
});

test('both formats are found and merged', async () => {
  const repo = repoOf();
  const img = await pushRandomImage(client, repo, 'v1');
  const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
  await sign([ref]);
  await sign([ref], { newBundleFormat: false });
  const v = await verify(ref);
  assert.deepEqual(v.verified.map((s) => s.source).sort(), ['legacy', 'referrer']);
});

test('--recursive signs the index and every platform image', async () => {
  const repo = repoOf();
  const idx = await pushIndex(client, repo, 'multi');
  const signed = await sign([`${repo.registry}/${repo.repository}:multi`], { recursive: true });
  assert.deepEqual(signed.map((s) => s.digest).sort(), [idx.digest, ...idx.images.map((i) => i.digest)].sort());
  for (const d of [idx.digest, ...idx.images.map((i) => i.digest)]) await verify(`${repo.registry}/${repo.repository}@${d}`);
});

test('COSIGN_REPOSITORY stores signatures in another repository', async () => {
  const repo = repoOf();
  const img = await pushRandomImage(client, repo, 'v1');
  const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
  const sigRepo = `${reg.host}/signatures/store${n}`;
  await sign([ref], { signatureRepository: sigRepo });
  await sign([ref], { signatureRepository: sigRepo, newBundleFormat: false });
  await assert.rejects(verify(ref), (e) => isSignetError(e, 'NO_SIGNATURES'));
  const v = await verify(ref, { signatureRepository: sigRepo });
  assert.equal(v.verified.length, 2);
});

test('a missing image is NOT_FOUND and nothing is pushed when any image fails', async () => {
  const repo = repoOf();
  const img = await pushRandomImage(client, repo, 'v1');
  const good = `${repo.registry}/${repo.repository}@${img.digest}`;
  await assert.rejects(sign([good, `${repo.registry}/${repo.repository}:nope`]), (e) => isSignetError(e, 'NOT_FOUND'));
  assert.deepEqual((await client.referrers(repo, img.digest)).manifests, []);
  assert.ok(!(await client.listTags(repo)).some((t) => t.startsWith('sha256-')));
});

test('many images verify concurrently with a bounded number of workers', async () => {
  const repo = repoOf();
  const imgs = await Promise.all(Array.from({ length: 8 }, (_, i) => pushRandomImage(client, repo, `t${i}`)));
  const refs = imgs.map((i) => `${repo.registry}/${repo.repository}@${i.digest}`);
  await sign(refs.slice(0, 7));
  const outcomes = await verifyImages({ client, key: pub, images: refs, ignoreTlog: true, maxWorkers: 3 });
  assert.equal(outcomes.filter((o) => o.result).length, 7);
  assert.equal(outcomes[7]!.error?.code, 'NO_SIGNATURES');
  await assert.rejects(verifyImages({ client, key: pub, images: refs, maxWorkers: 0 }), (e) => isSignetError(e, 'USAGE'));
});

describe('CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-image-'));
  const keyFile = join(dir, 'cosign.key');
  const pubFile = join(dir, 'cosign.pub');
  writeFileSync(keyFile, encryptPrivateKey(keys.privateKey, Buffer.from('pw'), { N: 32768 }));
  writeFileSync(pubFile, pub.pem);
  const env = { COSIGN_PASSWORD: 'pw' };

  test('sign and verify print what cosign prints, JSON on stdout', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}:v1`;
    const s = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', '-a', 'team=core', ref], { env });
    assert.equal(s.code, 0, s.stderr);
    const v = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', ref], { env });
    assert.equal(v.code, 0, v.stderr);
    const out = JSON.parse(v.stdout);
    assert.equal(out.length, 1);
    assert.equal(out[0].critical.image['docker-manifest-digest'], img.digest);
    assert.deepEqual(out[0].optional, { team: 'core' });
    assert.match(v.stderr, /Verification for .* --/);
    assert.match(v.stderr, /verified against the specified public key/);
    const text = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', '-o', 'text', ref], { env });
    assert.equal(text.code, 0);
    assert.equal(JSON.parse(text.stdout.trim())._type, 'https://in-toto.io/Statement/v1');
  });

  test('exit codes: unsigned 10, missing image 11, wrong key 12, usage 2; one error line each', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    const otherPub = join(dir, 'other.pub');
    writeFileSync(otherPub, other.pem);
    const unsigned = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', ref]);
    assert.equal(unsigned.code, 10);
    assert.equal(unsigned.stderr.trim().split('\n').filter((l) => l.startsWith('Error')).length, 1);
    const missing = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', `${repo.registry}/${repo.repository}:missing`]);
    assert.equal(missing.code, 11, missing.stderr);
    await runCli(['sign', '--key', keyFile, '--tlog-upload=false', ref], { env });
    const wrong = await runCli(['verify', '--key', otherPub, '--insecure-ignore-tlog', ref]);
    assert.equal(wrong.code, 12);
    assert.match(wrong.stderr, /^Error: no matching signatures/m);
    const noKey = await runCli(['verify', ref]);
    assert.equal(noKey.code, 2);
  });

  test('a wrong password or a missing --tlog-upload=false pushes nothing', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    const badPw = await runCli(['sign', '--key', keyFile, '--tlog-upload=false', ref], { env: { COSIGN_PASSWORD: 'wrong' } });
    assert.notEqual(badPw.code, 0);
    assert.match(badPw.stderr, /password/);
    const noLog = await runCli(['sign', '--key', keyFile, ref], { env });
    assert.equal(noLog.code, 2);
    assert.match(noLog.stderr, /--tlog-upload=false/);
    assert.deepEqual((await client.referrers(repo, img.digest)).manifests, []);
    assert.equal(await client.headManifest(repo, attachmentTag(img.digest, 'sig')), null);
  });

  test('triangulate, tree, download signature and clean', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    assert.equal((await runCli(['sign', '--key', keyFile, '--tlog-upload=false', ref], { env })).code, 0);
    assert.equal((await runCli(['sign', '--key', keyFile, '--tlog-upload=false', '--new-bundle-format=false', ref], { env })).code, 0);
    const tri = await runCli(['triangulate', ref]);
    assert.equal(tri.stdout.trim(), `${repo.registry}/${repo.repository}:${attachmentTag(img.digest, 'sig')}`);
    const tr = await runCli(['tree', '-o', 'json', ref]);
    const t = JSON.parse(tr.stdout);
    assert.equal(t.tags.length, 1);
    assert.equal(t.referrers.length, 1);
    const dl = await runCli(['download', 'signature', ref]);
    const lines = dl.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.equal(lines[0].mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.ok(lines[1].Base64Signature);
    const noForce = await runCli(['clean', ref]);
    assert.notEqual(noForce.code, 0);
    const cl = await runCli(['clean', '-f', ref]);
    assert.equal(cl.code, 0, cl.stderr);
    const after = await runCli(['verify', '--key', pubFile, '--insecure-ignore-tlog', ref]);
    assert.equal(after.code, 10, after.stderr);
  });
});
