/**
 * cosign's experimental OCI 1.1 signatures (`cosign sign --registry-referrers-mode=oci-1-1` in the
 * legacy format, `WriteSignaturesExperimentalOCI`): the `.sig` image's manifest with config media type
 * and artifactType `application/vnd.dev.cosign.artifact.sig.v1+json` and the image as subject. The
 * manifests are built here byte for byte as cosign's Go code marshals them (older cosign wrote no
 * top-level artifactType), found through the referrers API (a proxy in front of docker-registry) and
 * through the fallback tag index (docker-registry itself), keyed and with a certificate from an
 * openssl-made CA; then a round trip through Signet's own writer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encryptPrivateKey, generateKeyPair, publicKeyInfo, signerFromPrivateKey } from '../../src/keys/index.js';
import { RegistryClient, type Repo } from '../../src/oci/index.js';
import { verifyOne } from '../../src/cosign/verify.js';
import { signImages } from '../../src/cosign/sign.js';
import { isSignetError } from '../../src/errors.js';
import { pushRandomImage, startRegistry, type PushedImage, type RunningRegistry } from '../helpers/registry.js';
import { startReferrersProxy, type ReferrersProxy } from '../helpers/referrers-proxy.js';
import { runCli } from '../helpers/cli.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { devToken } from '../helpers/dev-token.js';

const SIG_ARTIFACT = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

let reg: RunningRegistry;
let srv: RunningServer;
let proxy: ReferrersProxy;
let direct: RegistryClient;
let viaApi: RegistryClient;
const keys = generateKeyPair('ecdsa-p256');
const signer = signerFromPrivateKey(keys.privateKey);
const pub = publicKeyInfo(keys.publicKey);
const dir = mkdtempSync(join(tmpdir(), 'signet-expref-'));
let n = 0;

const sha256 = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** cosign's simple-signing payload (sigPayload.Cosign.MarshalJSON), as Go writes it. */
function simpleSigning(repository: string, digest: string): Buffer {
  return Buffer.from(`{"critical":{"identity":{"docker-reference":"${repository}"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`);
}

/**
 * What WriteSignaturesExperimentalOCI uploads for one signature: the payload blob, the `.sig` image's
 * config file (ggcr's empty image plus one layer) and the manifest. Field order is Go's: v1.Manifest
 * (schemaVersion, mediaType, config, layers, subject), then cosign's referrerManifest.ArtifactType;
 * descriptors (mediaType, size, digest, annotations); map keys sorted.
 */
function cosignReferrer(payload: Buffer, annotations: Record<string, string>, subject: PushedImage, topLevelArtifactType = true): { config: Buffer; manifest: Buffer } {
  const zero = '0001-01-01T00:00:00Z';
  const config = Buffer.from(`{"architecture":"","created":"${zero}","history":[{"created":"${zero}"}],"os":"","rootfs":{"type":"layers","diff_ids":["${sha256(payload)}"]},"config":{}}`);
  const sorted = Object.fromEntries(Object.keys(annotations).sort().map((k) => [k, annotations[k]!]));
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: SIG_ARTIFACT, size: config.length, digest: sha256(config) },
    layers: [{ mediaType: SIMPLE_SIGNING, size: payload.length, digest: sha256(payload), annotations: sorted }],
    subject: { mediaType: subject.mediaType, size: subject.size, digest: subject.digest },
  };
  if (topLevelArtifactType) doc.artifactType = SIG_ARTIFACT;
  // Go's encoder escapes <, > and & in strings (certificates have none, but be exact).
  const json = JSON.stringify(doc).replace(/[<>&]/g, (c) => '\\u00' + c.charCodeAt(0).toString(16));
  return { config, manifest: Buffer.from(json) };
}

/** Push a cosign-made referrer: blobs, then the manifest by digest; `client` decides API or fallback index. */
async function pushCosignReferrer(client: RegistryClient, repo: Repo, img: PushedImage, payload: Buffer, annotations: Record<string, string>, topLevelArtifactType = true): Promise<string> {
  const { config, manifest } = cosignReferrer(payload, annotations, img, topLevelArtifactType);
  await client.putBlob(repo, payload);
  await client.putBlob(repo, config);
  return client.pushReferrer(repo, manifest, OCI_MANIFEST, { mediaType: img.mediaType, size: img.size, digest: img.digest }, { blobs: [config, payload] });
}

async function signedByCosign(client: RegistryClient, host: string, topLevelArtifactType = true): Promise<{ repo: Repo; img: PushedImage; ref: string; location: string }> {
  const repo = { registry: host, repository: `exp/app${++n}` };
  const img = await pushRandomImage(client, repo);
  const payload = simpleSigning(`${host}/${repo.repository}`, img.digest);
  const sig = (await signer.sign(payload)).toString('base64');
  const location = await pushCosignReferrer(client, repo, img, payload, { 'dev.cosignproject.cosign/signature': sig }, topLevelArtifactType);
  return { repo, img, ref: `${host}/${repo.repository}@${img.digest}`, location };
}

before(async () => {
  [reg, srv] = await Promise.all([startRegistry(), startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true })]);
  proxy = await startReferrersProxy(reg.host);
  direct = new RegistryClient({});
  viaApi = new RegistryClient({ referrersMode: 'oci-1-1' });
});
after(async () => {
  await direct?.close();
  await viaApi?.close();
  await proxy?.stop();
  await reg?.stop();
  await srv?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('reading cosign\'s experimental signature referrers', () => {
  test('through the referrers API: found and verified with the key; the listing says it is one', async () => {
    const { ref, repo, img, location } = await signedByCosign(viaApi, proxy.host);
    const listed = (await viaApi.referrers(repo, img.digest)).manifests;
    assert.deepEqual(listed.map((d) => [d.digest, d.artifactType]), [[location, SIG_ARTIFACT]]);
    const v = await verifyOne({ client: viaApi, key: pub, images: [ref], ignoreTlog: true }, ref);
    assert.equal(v.verified.length, 1);
    assert.equal(v.verified[0]!.source, 'referrer');
    assert.equal(v.verified[0]!.location, `${proxy.host}/${repo.repository}@${location}`);
    assert.equal(v.verified[0]!.claims.critical.image['docker-manifest-digest'], img.digest);
  });

  test('through the fallback tag index, and in the older shape without a top-level artifactType', async () => {
    for (const top of [true, false]) {
      const { ref, repo, img } = await signedByCosign(direct, reg.host, top);
      assert.equal((await direct.referrers(repo, img.digest)).source, 'tag');
      const v = await verifyOne({ client: direct, key: pub, images: [ref], ignoreTlog: true }, ref);
      assert.equal(v.verified.length, 1, `top-level artifactType: ${top}`);
    }
  });

  test('a wrong key and a payload naming another image are refused, not skipped', async () => {
    const { ref } = await signedByCosign(direct, reg.host);
    const other = publicKeyInfo(generateKeyPair('ecdsa-p256').publicKey);
    await assert.rejects(verifyOne({ client: direct, key: other, images: [ref], ignoreTlog: true }, ref), (e) => isSignetError(e, 'NO_MATCHING_SIGNATURES') && /does not verify/.test(e.message));

    const repo = { registry: reg.host, repository: `exp/app${++n}` };
    const img = await pushRandomImage(direct, repo);
    const another = await pushRandomImage(direct, repo);
    const payload = simpleSigning(`${reg.host}/${repo.repository}`, another.digest);
    await pushCosignReferrer(direct, repo, img, payload, { 'dev.cosignproject.cosign/signature': (await signer.sign(payload)).toString('base64') });
    const r2 = `${reg.host}/${repo.repository}@${img.digest}`;
    await assert.rejects(verifyOne({ client: direct, key: pub, images: [r2], ignoreTlog: true }, r2), (e) => isSignetError(e, 'NO_MATCHING_SIGNATURES'));
  });
});

describe('Signet\'s writer: sign --new-bundle-format=false --registry-referrers-mode=oci-1-1', () => {
  test('writes exactly cosign\'s bytes through the API (no .sig tag, no fallback index), and verify finds them', async () => {
    const repo = { registry: proxy.host, repository: `exp/app${++n}` };
    const img = await pushRandomImage(viaApi, repo, 'v1');
    const [signed] = await signImages({ client: viaApi, signer, images: [`${proxy.host}/${repo.repository}@${img.digest}`], newBundleFormat: false, referrersMode: 'oci-1-1' });
    const listed = (await viaApi.referrers(repo, img.digest)).manifests;
    assert.equal(listed.length, 1);
    assert.equal(signed!.location, `${proxy.host}/${repo.repository}@${listed[0]!.digest}`);
    const got = await viaApi.getManifest(repo, listed[0]!.digest);
    const layer = JSON.parse(got.bytes.toString()).layers[0];
    const payload = await viaApi.getBlob(repo, layer.digest);
    assert.deepEqual(payload, simpleSigning(`${proxy.host}/${repo.repository}`, img.digest));
    const expected = cosignReferrer(payload, layer.annotations, img);
    assert.equal(got.bytes.toString(), expected.manifest.toString());
    assert.deepEqual(await viaApi.getBlob(repo, JSON.parse(got.bytes.toString()).config.digest), expected.config);
    assert.deepEqual(await direct.listTags({ registry: reg.host, repository: repo.repository }), ['v1'], 'no .sig tag and no fallback index');
    const v = await verifyOne({ client: viaApi, key: pub, images: [`${proxy.host}/${repo.repository}:v1`], ignoreTlog: true }, `${proxy.host}/${repo.repository}:v1`);
    assert.equal(v.verified.length, 1);
  });

  test('the CLI, with a certificate from an openssl-made CA: sign, then verify under --certificate-chain and the identity flags; a wrong identity is refused', async () => {
    const o = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-subj', '/O=Example/CN=root', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=email:signer@example.org\n');
    o(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.pkcs8', '-out', 'leaf.csr', '-subj', '/O=Example/CN=leaf']);
    o(['x509', '-req', '-in', 'leaf.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '7', '-extfile', 'leaf.ext', '-out', 'leaf.pem']);
    const { createPrivateKey } = await import('node:crypto');
    writeFileSync(join(dir, 'leaf.key'), encryptPrivateKey(createPrivateKey(readFileSync(join(dir, 'leaf.pkcs8'))), Buffer.from('pw'), { N: 32768 }));
    const env = { COSIGN_PASSWORD: 'pw', SIGSTORE_ID_TOKEN: undefined, SIGNET_HOME: join(dir, 'home'), TUF_ROOT: join(dir, 'tuf') };
    const repo = { registry: proxy.host, repository: `exp/app${++n}` };
    const img = await pushRandomImage(viaApi, repo);
    const ref = `${proxy.host}/${repo.repository}@${img.digest}`;
    let r = await runCli(['sign', '--key', join(dir, 'leaf.key'), '--certificate', join(dir, 'leaf.pem'), '--certificate-chain', join(dir, 'root.pem'), '--tlog-upload=false', '--new-bundle-format=false', '--registry-referrers-mode=oci-1-1', '-y', ref], { env });
    assert.equal(r.code, 0, r.stderr);
    const listed = (await viaApi.referrers(repo, img.digest)).manifests;
    assert.deepEqual(listed.map((d) => d.artifactType), [SIG_ARTIFACT]);
    const layer = JSON.parse((await viaApi.getManifest(repo, listed[0]!.digest)).bytes.toString()).layers[0];
    assert.match(layer.annotations['dev.sigstore.cosign/certificate'], /^-----BEGIN CERTIFICATE-----/);
    const common = ['--certificate-chain', join(dir, 'root.pem'), '--certificate-oidc-issuer-regexp', '.*', '--insecure-ignore-sct', '--insecure-ignore-tlog'];
    r = await runCli(['verify', ...common, '--certificate-identity', 'signer@example.org', ref], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /docker-manifest-digest/);
    r = await runCli(['verify', ...common, '--certificate-identity', 'mallory@example.org', ref], { env });
    assert.equal(r.code, 12, r.stderr);
  });

  test('keyless through the dev CA, log and TSA: sign writes the referrer with certificate, chain, log bundle and timestamp; verify holds it to the identity', async () => {
    const env = { SIGSTORE_ID_TOKEN: undefined, ACTIONS_ID_TOKEN_REQUEST_URL: undefined, SIGNET_HOME: join(dir, 'home-keyless'), TUF_ROOT: join(dir, 'tuf-keyless') };
    const token = await devToken(srv.url, 'alice@example.com');
    const repo = { registry: proxy.host, repository: `exp/app${++n}` };
    const img = await pushRandomImage(viaApi, repo);
    const ref = `${proxy.host}/${repo.repository}@${img.digest}`;
    let r = await runCli(['sign', '--signing-config', srv.signingConfigPath, '--identity-token', token, '--new-bundle-format=false', '--registry-referrers-mode=oci-1-1', '-y', ref], { env });
    assert.equal(r.code, 0, r.stderr);
    const listed = (await viaApi.referrers(repo, img.digest)).manifests;
    assert.deepEqual(listed.map((d) => d.artifactType), [SIG_ARTIFACT]);
    const a = JSON.parse((await viaApi.getManifest(repo, listed[0]!.digest)).bytes.toString()).layers[0].annotations;
    assert.deepEqual(Object.keys(a), ['dev.cosignproject.cosign/signature', 'dev.sigstore.cosign/bundle', 'dev.sigstore.cosign/certificate', 'dev.sigstore.cosign/chain', 'dev.sigstore.cosign/rfc3161timestamp']);
    const verify = (who: string) => runCli(['verify', '--trusted-root', srv.trustedRootPath, '--insecure-ignore-sct', '--certificate-identity', who, '--certificate-oidc-issuer', srv.url + '/oidc', ref], { env });
    r = await verify('alice@example.com');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).length, 1);
    r = await verify('bob@example.com');
    assert.equal(r.code, 12, r.stderr);
  });
});
