/**
 * End to end with the real log server (in process, temp data dir) and the real docker-registry: signing
 * logs before pushing, verification checks the log evidence offline against the server's trusted root.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo, signerFromPrivateKey } from '../../src/keys/index.js';
import { RegistryClient } from '../../src/oci/index.js';
import { signImages } from '../../src/cosign/sign.js';
import { verifyOne } from '../../src/cosign/verify.js';
import { attachmentTag, parseImageManifest } from '../../src/cosign/storage.js';
import { isSignetError } from '../../src/errors.js';
import { loadTrustedRoot, parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { hashedrekordV001, RekorV1Client } from '../../src/sigstore/rekor-client.js';
import { createHash } from 'node:crypto';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { freePort, pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { runCli } from '../helpers/cli.js';

let reg: RunningRegistry;
let client: RegistryClient;
let log: RunningServer;
const dir = mkdtempSync(join(tmpdir(), 'signet-tlog-'));
const keys = generateKeyPair('ecdsa-p256');
const signer = signerFromPrivateKey(keys.privateKey);
const pub = publicKeyInfo(keys.publicKey);
const keyFile = join(dir, 'cosign.key');
const pubFile = join(dir, 'cosign.pub');
const env = { COSIGN_PASSWORD: 'pw', SIGNET_HOME: join(dir, 'home') };
let n = 0;
const repoOf = () => ({ registry: reg.host, repository: `tlog/app${++n}` });

before(async () => {
  reg = await startRegistry();
  client = new RegistryClient({});
  log = await startServer({ dataDir: join(dir, 'log'), listen: '127.0.0.1:0', requestLog: false });
  writeFileSync(keyFile, encryptPrivateKey(keys.privateKey, Buffer.from('pw'), { N: 32768 }));
  writeFileSync(pubFile, pub.pem);
});
after(async () => {
  await client.close();
  await reg.stop();
  await log.close();
});

/** A trusted root like the server's, but with another log key under the same log ID. */
function foreignRoot(): string {
  const doc = JSON.parse(readFileSync(log.trustedRootPath, 'utf8'));
  const other = generateKeyPair('ecdsa-p256').publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  for (const t of doc.tlogs) t.publicKey.rawBytes = other;
  const path = join(dir, `foreign-${++n}.json`);
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

describe('library', () => {
  test('new format: the bundle carries a log entry that verifies offline; another log key is refused', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    await signImages({ client, signer, images: [ref], tlog: { url: log.url, majorApiVersion: 1 } });
    const trustedRoot = await loadTrustedRoot(log.trustedRootPath);
    const v = await verifyOne({ client, key: pub, images: [ref], trustedRoot }, ref);
    assert.equal(v.verified.length, 1);
    assert.equal(v.verified[0]!.tlog?.[0]?.kind, 'dsse');
    assert.deepEqual(v.verified[0]!.tlog?.[0]?.checked, ['inclusionPromise', 'inclusionProof']);
    const foreign = parseTrustedRoot(readFileSync(foreignRoot()));
    await assert.rejects(verifyOne({ client, key: pub, images: [ref], trustedRoot: foreign }, ref), (e) => isSignetError(e, 'NO_MATCHING_SIGNATURES') && /does not verify/.test((e as Error).message));
    await assert.rejects(verifyOne({ client, key: pub, images: [ref] }, ref), (e) => isSignetError(e, 'NO_MATCHING_SIGNATURES') && /--trusted-root/.test((e as Error).message));
  });

  test('Rekor v2 API: hashedrekord over the DSSE PAE, inclusion proof + checkpoint verify', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    await signImages({ client, signer, images: [ref], tlog: { url: log.url, majorApiVersion: 2 } });
    const v = await verifyOne({ client, key: pub, images: [ref], trustedRoot: await loadTrustedRoot(log.trustedRootPath) }, ref);
    assert.equal(`${v.verified[0]!.tlog?.[0]?.kind} ${v.verified[0]!.tlog?.[0]?.version}`, 'hashedrekord 0.0.2');
    assert.deepEqual(v.verified[0]!.tlog?.[0]?.checked, ['inclusionProof']);
  });

  test('legacy format: the .sig layer gets a dev.sigstore.cosign/bundle annotation that verifies', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}@${img.digest}`;
    await signImages({ client, signer, images: [ref], newBundleFormat: false, tlog: { url: log.url, majorApiVersion: 1 } });
    const m = await client.getManifest(repo, attachmentTag(img.digest, 'sig'));
    const ann = parseImageManifest(m.bytes).layers[0]!.annotations!['dev.sigstore.cosign/bundle']!;
    assert.deepEqual(Object.keys(JSON.parse(ann)), ['SignedEntryTimestamp', 'Payload']);
    const v = await verifyOne({ client, key: pub, images: [ref], trustedRoot: await loadTrustedRoot(log.trustedRootPath) }, ref);
    assert.equal(v.verified[0]!.source, 'legacy');
    assert.equal(v.verified[0]!.tlog?.[0]?.kind, 'hashedrekord');
  });

  test('uploading the same entry twice returns the existing entry (409); a bad entry is a clear 4xx', async () => {
    const c = new RekorV1Client({ baseUrl: log.url });
    const data = Buffer.from(`dup ${Date.now()}`);
    const good = hashedrekordV001({ hashAlg: 'sha256', digest: createHash('sha256').update(data).digest(), signature: signer.sign(data), verifierPem: pub.pem });
    const first = await c.createEntry(good);
    const again = await c.createEntry(good);
    assert.equal(first.existed, false);
    assert.equal(again.existed, true);
    assert.equal(again.entry.logIndex, first.entry.logIndex);
    assert.equal(again.entry.body, first.entry.body);
    const proposed = { apiVersion: '0.0.1', kind: 'hashedrekord', spec: { data: { hash: { algorithm: 'sha256', value: 'a'.repeat(64) } }, signature: { content: signer.sign(Buffer.from('x')).toString('base64'), publicKey: { content: Buffer.from(pub.pem).toString('base64') } } } };
    // The signature is over 'x', not over the digest: the server must refuse it with a clear 4xx.
    await assert.rejects(c.createEntry(proposed), (e) => isSignetError(e, 'TLOG') && /HTTP 4\d\d/.test((e as Error).message));
  });
});

describe('CLI', () => {
  test('sign (both formats) and sign-blob with --rekor-url, verify with --trusted-root and no --insecure-ignore-tlog', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}:v1`;
    const s1 = await runCli(['sign', '--key', keyFile, '--rekor-url', log.url, ref], { env });
    assert.equal(s1.code, 0, s1.stderr);
    const s2 = await runCli(['sign', '--key', keyFile, '--rekor-url', log.url, '--new-bundle-format=false', ref], { env });
    assert.equal(s2.code, 0, s2.stderr);
    const v = await runCli(['verify', '--key', pubFile, '--trusted-root', log.trustedRootPath, ref], { env });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stderr, /Existence of the claims in the transparency log was verified offline/);
    assert.doesNotMatch(v.stderr, /Skipping tlog verification/);
    assert.equal(JSON.parse(v.stdout).length, 2);
    assert.ok(JSON.parse(v.stdout).every((c: any) => c.critical.image['docker-manifest-digest'] === img.digest));

    const bad = await runCli(['verify', '--key', pubFile, '--trusted-root', foreignRoot(), ref], { env });
    assert.equal(bad.code, 12, bad.stderr);
    const none = await runCli(['verify', '--key', pubFile, ref], { env });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /--trusted-root/);

    const blob = join(dir, 'artifact.txt');
    writeFileSync(blob, 'hello log');
    const bundle = join(dir, 'artifact.sigstore.json');
    const sb = await runCli(['sign-blob', '--key', keyFile, '--rekor-url', log.url, '--bundle', bundle, blob], { env });
    assert.equal(sb.code, 0, sb.stderr);
    assert.match(sb.stderr, /tlog entry created with index: \d+/);
    const vb = await runCli(['verify-blob', '--key', pubFile, '--trusted-root', log.trustedRootPath, '--bundle', bundle, blob], { env });
    assert.equal(vb.code, 0, vb.stderr);
    assert.match(vb.stderr, /Verified OK/);
    const vbBad = await runCli(['verify-blob', '--key', pubFile, '--trusted-root', foreignRoot(), '--bundle', bundle, blob], { env });
    assert.notEqual(vbBad.code, 0);
    assert.match(vbBad.stderr, /does not verify/);

    const legacy = join(dir, 'artifact.legacy.json');
    const sl = await runCli(['sign-blob', '--key', keyFile, '--rekor-url', log.url, '--new-bundle-format=false', '--bundle', legacy, blob], { env });
    assert.equal(sl.code, 0, sl.stderr);
    assert.ok(JSON.parse(readFileSync(legacy, 'utf8')).rekorBundle.SignedEntryTimestamp);
    const vl = await runCli(['verify-blob', '--key', pubFile, '--trusted-root', log.trustedRootPath, '--bundle', legacy, blob], { env });
    assert.equal(vl.code, 0, vl.stderr);
    writeFileSync(blob, 'hello log!');
    const vlBad = await runCli(['verify-blob', '--key', pubFile, '--trusted-root', log.trustedRootPath, '--bundle', legacy, blob], { env });
    assert.notEqual(vlBad.code, 0);
  });

  test('--signing-config selects the log and its API version', async () => {
    const repo = repoOf();
    await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}:v1`;
    const cfg = join(dir, 'signing_config.json');
    writeFileSync(cfg, JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json', rekorTlogUrls: [{ url: log.url, majorApiVersion: 2, validFor: { start: '2020-01-01T00:00:00Z' } }] }));
    const s = await runCli(['sign', '--key', keyFile, '--signing-config', cfg, ref], { env });
    assert.equal(s.code, 0, s.stderr);
    const v = await runCli(['verify', '--key', pubFile, '--trusted-root', log.trustedRootPath, ref], { env });
    assert.equal(v.code, 0, v.stderr);
  });

  test('a failed upload (log down) pushes nothing to the registry', async () => {
    const repo = repoOf();
    const img = await pushRandomImage(client, repo, 'v1');
    const ref = `${repo.registry}/${repo.repository}:v1`;
    const down = `http://127.0.0.1:${await freePort()}`;
    for (const extra of [[], ['--new-bundle-format=false']]) {
      const s = await runCli(['sign', '--key', keyFile, '--rekor-url', down, ...extra, ref], { env });
      assert.notEqual(s.code, 0);
      assert.match(s.stderr, /cannot reach the transparency log/);
    }
    assert.equal((await client.referrers(repo, img.digest)).manifests.length, 0);
    await assert.rejects(client.getManifest(repo, attachmentTag(img.digest, 'sig')), (e) => isSignetError(e, 'NOT_FOUND'));
    const blob = join(dir, 'b2.txt');
    writeFileSync(blob, 'x');
    const sb = await runCli(['sign-blob', '--key', keyFile, '--rekor-url', down, '--bundle', join(dir, 'never.json'), blob], { env });
    assert.notEqual(sb.code, 0);
    assert.throws(() => readFileSync(join(dir, 'never.json')));
  });

  test('signet log info / get / search / verify against the server', async () => {
    const info = await runCli(['log', 'info', '--rekor-url', log.url, '--trusted-root', log.trustedRootPath, '-o', 'json'], { env });
    assert.equal(info.code, 0, info.stderr);
    const li = JSON.parse(info.stdout);
    assert.ok(li.treeSize > 0);
    assert.equal(li.verified, true);
    const get = await runCli(['log', 'get', '--rekor-url', log.url, '--log-index', '0', '--trusted-root', log.trustedRootPath, '-o', 'json'], { env });
    assert.equal(get.code, 0, get.stderr);
    const entry = JSON.parse(get.stdout);
    const uuid = Object.keys(entry).find((k) => k !== 'verified')!;
    assert.match(uuid, /^[0-9a-f]{80}$/);
    assert.ok(entry.verified.includes('inclusionProof'));
    const byUuid = await runCli(['log', 'get', '--rekor-url', log.url, '--uuid', uuid], { env });
    assert.equal(byUuid.code, 0, byUuid.stderr);
    assert.match(byUuid.stdout, /Index: 0/);
    const search = await runCli(['log', 'search', '--rekor-url', log.url, '--public-key', pubFile, '-o', 'json'], { env });
    assert.equal(search.code, 0, search.stderr);
    assert.ok(JSON.parse(search.stdout).length >= 1);
    const v1 = await runCli(['log', 'verify', '--rekor-url', log.url, '--trusted-root', log.trustedRootPath, '--log-index', '0', '-o', 'json'], { env });
    assert.equal(v1.code, 0, v1.stderr);
    // Grow the log, verify again: consistency with the remembered checkpoint is proven.
    await runCli(['sign-blob', '--key', keyFile, '--rekor-url', log.url, '--bundle', join(dir, 'grow.json'), pubFile], { env });
    const v2 = await runCli(['log', 'verify', '--rekor-url', log.url, '--trusted-root', log.trustedRootPath, '--log-index', '0', '-o', 'json'], { env });
    assert.equal(v2.code, 0, v2.stderr);
    assert.equal(JSON.parse(v2.stdout).consistency.previousSize, JSON.parse(v1.stdout).treeSize);
    const bad = await runCli(['log', 'verify', '--rekor-url', log.url, '--trusted-root', foreignRoot(), '--log-index', '0'], { env });
    assert.notEqual(bad.code, 0);
    const usage = await runCli(['log', 'get', '--rekor-url', log.url], { env });
    assert.equal(usage.code, 2);
    const missing = await runCli(['log', 'get', '--rekor-url', log.url, '--log-index', '999999'], { env });
    assert.notEqual(missing.code, 0);
  });
});
