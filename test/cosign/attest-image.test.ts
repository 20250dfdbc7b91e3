/**
 * Image attestations end to end against the real docker-registry (no referrers API: new-format
 * attestations go through the fallback index) and a real `signet serve --dev-oidc`: `attestImages` keyed
 * and keyless in both formats, `verifyImageAttestations` refusing what does not hold, `.att` layers
 * written and read by test code that does not use Signet's writer or reader, and the `sigstore`
 * package verifying the bundles Signet pushed.
 */
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { createHash, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot as ProtoTrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import {
  attestImages,
  generateKeyPair,
  githubActionsProvenance,
  isSignetError,
  loadTrustedRoot,
  publicKeyInfo,
  signerFromPrivateKey,
  tlogTarget,
  verifyImageAttestations,
  type AttestationPolicy,
  type AttestImagesOptions,
  type TrustedRoot,
  type VerifyAttestationsOptions,
} from '../../src/index.js';
import { RegistryClient, type Repo } from '../../src/oci/index.js';
import { attachmentTag, parseImageManifest } from '../../src/cosign/storage.js';
import { obtainKeylessSigner, resolveKeylessServices, type KeylessSigner } from '../../src/sigstore/sign-keyless.js';
import { parseSigningConfig } from '../../src/sigstore/signing-config.js';
import { parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { prepareTrust, type TrustMaterial } from '../../src/sigstore/verifier.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { pushIndex, pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { devToken } from '../helpers/dev-token.js';

const CUSTOM = 'https://cosign.sigstore.dev/attestation/v1';
const SLSA1 = 'https://slsa.dev/provenance/v1';
const PROVENANCE = Buffer.from(JSON.stringify({ buildDefinition: { buildType: 'https://example.com/build/v1', externalParameters: {} }, runDetails: { builder: { id: 'https://example.com/builder' } } }));

let reg: RunningRegistry;
let srv: RunningServer;
let client: RegistryClient;
let root: TrustedRoot;
let trust: TrustMaterial;
let ks: KeylessSigner;
const dir = mkdtempSync(join(tmpdir(), 'signet-attest-image-'));
const keys = generateKeyPair('ecdsa-p256');
const signer = signerFromPrivateKey(keys.privateKey);
const pub = publicKeyInfo(keys.publicKey);
const otherKey = publicKeyInfo(generateKeyPair('ecdsa-p256').publicKey);
let n = 0;

const code = (c: string, re?: RegExp) => (e: unknown) => isSignetError(e, c as never) && (!re || re.test((e as Error).message));
const repoOf = (): Repo => ({ registry: reg.host, repository: `attest/app${++n}` });
const attest = (images: string[], o: Partial<AttestImagesOptions> = {}) => attestImages({ client, signer, images, predicate: Buffer.from('hello'), ...o });
const verify = async (images: string[], o: Partial<VerifyAttestationsOptions> = {}) => verifyImageAttestations({ client, images, key: pub, ignoreTlog: true, ...o });
const only = async (image: string, o: Partial<VerifyAttestationsOptions> = {}) => {
  const [out] = await verify([image], o);
  if (out!.error) throw out!.error;
  return out!.result!;
};
const base = () => `http://${reg.host}/v2`;

async function freshImage(): Promise<{ repo: Repo; digest: string; ref: string }> {
  const repo = repoOf();
  const img = await pushRandomImage(client, repo, 'v1');
  return { repo, digest: img.digest, ref: `${repo.registry}/${repo.repository}@${img.digest}` };
}

/** PAE by hand, from the DSSE spec. */
function paeOf(type: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload]);
}

/** Upload a blob with plain fetch (monolithic POST+PUT), no Signet client. */
async function rawPutBlob(repo: Repo, bytes: Buffer): Promise<string> {
  const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  const start = await fetch(`${base()}/${repo.repository}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const loc = new URL(start.headers.get('location')!, `http://${reg.host}`);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(put.status, 201, await put.text());
  return digest;
}

/** A legacy `.att` image written by hand: one layer per envelope, pushed with plain fetch. */
async function rawPushAtt(repo: Repo, imageDigest: string, envelopes: Buffer[], annotations: Array<Record<string, string>>): Promise<void> {
  const layers = [];
  for (const [i, env] of envelopes.entries()) {
    layers.push({ mediaType: 'application/vnd.dsse.envelope.v1+json', size: env.length, digest: await rawPutBlob(repo, env), annotations: annotations[i] });
  }
  const config = Buffer.from(JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  const configDigest = await rawPutBlob(repo, config);
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: configDigest }, layers });
  const tag = imageDigest.replace(':', '-') + '.att';
  const r = await fetch(`${base()}/${repo.repository}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(r.status, 201, await r.text());
}

/** An envelope over a statement, signed with node:crypto. */
function handEnvelope(statement: object, key = keys.privateKey): Buffer {
  const payload = Buffer.from(JSON.stringify(statement));
  const type = 'application/vnd.in-toto+json';
  const sig = cryptoSign('sha256', paeOf(type, payload), key);
  return Buffer.from(JSON.stringify({ payloadType: type, payload: payload.toString('base64'), signatures: [{ keyid: '', sig: sig.toString('base64') }] }));
}

before(async () => {
  [reg, srv] = await Promise.all([startRegistry(), startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true })]);
  client = new RegistryClient({});
  root = await loadTrustedRoot(srv.trustedRootPath);
  trust = prepareTrust(parseTrustedRoot(readFileSync(srv.trustedRootPath)));
  ks = await obtainKeylessSigner(resolveKeylessServices(parseSigningConfig(readFileSync(srv.signingConfigPath))), await devToken(srv.url, 'carol@example.com'));
});
after(async () => {
  await client.close();
  await Promise.all([reg.stop(), srv.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('keyed', () => {
  test('new format, Rekor v1: a bundle referrer with cosign\'s annotations; verified offline; the sigstore package accepts it', async () => {
    const img = await freshImage();
    const tlog = await tlogTarget({ tlogUpload: true, rekorUrl: srv.url });
    const events: string[] = [];
    const [r] = await attest([`${img.repo.registry}/${img.repo.repository}:v1`], { type: 'slsaprovenance1', predicate: PROVENANCE, tlog: tlog!, onEvent: (m) => events.push(m) });
    assert.equal(r!.format, 'bundle');
    assert.ok(events.some((e) => /tlog entry created with index/.test(e)));
    const { manifests } = await client.referrers(img.repo, img.digest);
    assert.equal(manifests.length, 1);
    assert.equal(manifests[0]!.artifactType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    const m = parseImageManifest((await client.getManifest(img.repo, manifests[0]!.digest)).bytes);
    assert.equal(m.annotations?.['dev.sigstore.bundle.predicateType'], SLSA1);
    assert.equal(m.annotations?.['dev.sigstore.bundle.content'], 'dsse-envelope');
    const v = await only(img.ref, { type: 'slsaprovenance1', ignoreTlog: false, trustedRoot: root });
    assert.equal(v.attestations.length, 1);
    assert.equal(v.attestations[0]!.tlog?.[0]?.kind, 'dsse');
    const statement = v.attestations[0]!.statement;
    assert.deepEqual(statement.subject, [{ name: `${img.repo.registry}/${img.repo.repository}`, digest: { sha256: img.digest.slice(7) } }]);
    assert.equal(statement._type, 'https://in-toto.io/Statement/v0.1');
    const printed = JSON.parse(v.attestations[0]!.envelopeJson.toString());
    assert.deepEqual(Object.keys(printed), ['payloadType', 'payload', 'signatures']);
    assert.equal(Buffer.from(printed.payload, 'base64').toString(), v.attestations[0]!.payload.toString());

    // The sigstore package, on the bundle pulled from the registry by test code.
    const bundleLayer = m.layers[0]!;
    const bytes = Buffer.from(await (await fetch(`${base()}/${img.repo.repository}/blobs/${bundleLayer.digest}`)).arrayBuffer());
    const protoRoot = ProtoTrustedRoot.fromJSON(JSON.parse(readFileSync(srv.trustedRootPath, 'utf8')));
    const verifier = (key: typeof keys.publicKey) => new Verifier(toTrustMaterial(protoRoot, () => ({ publicKey: key, validFor: () => true })), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 });
    verifier(keys.publicKey).verify(toSignedEntity(bundleFromJSON(JSON.parse(bytes.toString()))));
    assert.throws(() => verifier(generateKeyPair('ecdsa-p256').publicKey).verify(toSignedEntity(bundleFromJSON(JSON.parse(bytes.toString())))));

    await assert.rejects(only(img.ref, { type: 'slsaprovenance1', key: otherKey }), code('NO_MATCHING_SIGNATURES', /does not verify|verifies/));
    await assert.rejects(only(img.ref, { type: 'slsaprovenance1', ignoreTlog: false }), code('NO_MATCHING_SIGNATURES', /trusted root/));
  });

  test('legacy: Signet\'s .att checked byte by byte by test code; Rekor bundle verified offline; a signature beside it is not an attestation', async () => {
    const img = await freshImage();
    const tlog = await tlogTarget({ tlogUpload: true, rekorUrl: srv.url });
    const [r] = await attest([img.ref], { newBundleFormat: false, tlog: tlog!, now: new Date('2025-01-02T03:04:05Z') });
    const tag = attachmentTag(img.digest, 'att');
    assert.equal(r!.location, `${img.repo.registry}/${img.repo.repository}:${tag}`);
    // Read with plain fetch, checked against the format.
    const res = await fetch(`${base()}/${img.repo.repository}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const raw = Buffer.from(await res.arrayBuffer());
    const doc = JSON.parse(raw.toString());
    assert.equal(doc.schemaVersion, 2);
    assert.equal(doc.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(doc.config.mediaType, 'application/vnd.oci.image.config.v1+json');
    assert.equal(doc.layers.length, 1);
    const layer = doc.layers[0];
    assert.deepEqual(Object.keys(layer), ['mediaType', 'size', 'digest', 'annotations']);
    assert.equal(layer.mediaType, 'application/vnd.dsse.envelope.v1+json');
    assert.deepEqual(Object.keys(layer.annotations), ['dev.cosignproject.cosign/signature', 'dev.sigstore.cosign/bundle', 'predicateType']);
    assert.equal(layer.annotations['dev.cosignproject.cosign/signature'], '');
    assert.equal(layer.annotations.predicateType, CUSTOM);
    const rekor = JSON.parse(layer.annotations['dev.sigstore.cosign/bundle']);
    assert.deepEqual(Object.keys(rekor), ['SignedEntryTimestamp', 'Payload']);
    assert.equal(JSON.parse(Buffer.from(rekor.Payload.body, 'base64').toString()).kind, 'dsse');
    const config = JSON.parse(Buffer.from(await (await fetch(`${base()}/${img.repo.repository}/blobs/${doc.config.digest}`)).arrayBuffer()).toString());
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [layer.digest] });
    const blob = Buffer.from(await (await fetch(`${base()}/${img.repo.repository}/blobs/${layer.digest}`)).arrayBuffer());
    assert.equal(blob.length, layer.size);
    assert.equal('sha256:' + createHash('sha256').update(blob).digest('hex'), layer.digest);
    const env = JSON.parse(blob.toString());
    assert.deepEqual(Object.keys(env), ['payloadType', 'payload', 'signatures']);
    assert.deepEqual(Object.keys(env.signatures[0]), ['keyid', 'sig']);
    const payload = Buffer.from(env.payload, 'base64');
    assert.ok(cryptoVerify('sha256', paeOf(env.payloadType, payload), keys.publicKey, Buffer.from(env.signatures[0].sig, 'base64')));
    assert.equal(
      payload.toString(),
      JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', predicateType: CUSTOM, subject: [{ name: `${img.repo.registry}/${img.repo.repository}`, digest: { sha256: img.digest.slice(7) } }], predicate: { Data: 'hello', Timestamp: '2025-01-02T03:04:05Z' } }),
    );

    const v = await only(img.ref, { ignoreTlog: false, trustedRoot: root });
    assert.equal(v.attestations[0]!.source, 'legacy');
    assert.equal(v.attestations[0]!.envelopeJson.toString(), blob.toString(), 'cosign prints the stored envelope');
    assert.equal(v.attestations[0]!.tlog?.length, 1);
  });

  test('--replace swaps the layers of the same predicate type and keeps the others', async () => {
    const img = await freshImage();
    await attest([img.ref], { newBundleFormat: false });
    await attest([img.ref], { newBundleFormat: false });
    await attest([img.ref], { newBundleFormat: false, type: 'slsaprovenance1', predicate: PROVENANCE });
    const layers = async () => parseImageManifest((await client.getManifest(img.repo, attachmentTag(img.digest, 'att'))).bytes).layers;
    assert.equal((await layers()).length, 3);
    const [r] = await attest([img.ref], { newBundleFormat: false, replace: true, predicate: Buffer.from('new') });
    assert.equal(r!.replaced, 2);
    const now = await layers();
    assert.deepEqual(now.map((l) => l.annotations?.predicateType).sort(), [CUSTOM, SLSA1]);
    const v = await only(img.ref);
    assert.equal(v.attestations.length, 1);
    assert.equal(JSON.parse(v.attestations[0]!.payload.toString()).predicate.Data, 'new');
  });

  for (const newBundleFormat of [false, true]) {
    test(`concurrent ${newBundleFormat ? 'new-format' : 'legacy'} attesters with their own keys and clients: every attestation survives and verifies`, async () => {
      const img = await freshImage();
      const signers = Array.from({ length: 6 }, () => generateKeyPair('ecdsa-p256'));
      const clients = signers.map(() => new RegistryClient({}));
      try {
        const outcomes = await Promise.allSettled(
          signers.map((k, i) => attestImages({ client: clients[i]!, signer: signerFromPrivateKey(k.privateKey), images: [img.ref], predicate: Buffer.from(`from ${i}`), newBundleFormat })),
        );
        assert.deepEqual(outcomes.filter((o) => o.status === 'rejected'), []);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      const stored = newBundleFormat
        ? (await client.referrers(img.repo, img.digest)).manifests.length
        : parseImageManifest((await client.getManifest(img.repo, attachmentTag(img.digest, 'att'))).bytes).layers.length;
      assert.equal(stored, signers.length);
      for (const k of signers) assert.equal((await only(img.ref, { key: publicKeyInfo(k.publicKey) })).attestations.length, 1);
    });
  }

  test('-r attests the index and every platform image, each naming its own digest', async () => {
    const repo = repoOf();
    const idx = await pushIndex(client, repo, 'multi');
    const results = await attest([`${repo.registry}/${repo.repository}:multi`], { recursive: true });
    assert.deepEqual(results.map((r) => r.digest), [idx.digest, ...idx.images.map((i) => i.digest)]);
    for (const d of [idx.digest, ...idx.images.map((i) => i.digest)]) {
      const v = await only(`${repo.registry}/${repo.repository}@${d}`);
      assert.equal(v.attestations[0]!.statement.subject[0]!.digest.sha256, d.slice(7));
    }
  });

  test('the type filter lists the types found; no attestations, unknown image, refused up front', async () => {
    const img = await freshImage();
    await assert.rejects(only(img.ref), code('NO_SIGNATURES', /no attestations found/));
    await attest([img.ref]);
    await attest([img.ref], { newBundleFormat: false, type: 'slsaprovenance1', predicate: PROVENANCE });
    const [o] = await verify([img.ref], { type: 'cyclonedx' });
    assert.ok(isSignetError(o!.error, 'VERIFICATION'));
    assert.match(o!.error!.message, new RegExp(`none of the attestations matched the predicate type: cyclonedx, found: (${CUSTOM},${SLSA1}|${SLSA1},${CUSTOM})$`));
    assert.equal((await only(img.ref, { type: SLSA1 })).attestations.length, 1);
    const missing = `${img.repo.registry}/${img.repo.repository}:nope`;
    const [m] = await verify([missing]);
    assert.ok(isSignetError(m!.error, 'NOT_FOUND'));
    await assert.rejects(attest([missing]), code('NOT_FOUND'));
    await assert.rejects(verify([img.ref], { type: 'not a type' }), code('USAGE'));
  });

  test('many images: a connection is kept across images (no per-image HEAD, which docker-registry answers with Connection: close)', async () => {
    const images: string[] = [];
    for (let i = 0; i < 8; i++) {
      const img = await freshImage();
      await attest([img.ref], { type: 'slsaprovenance1', predicate: PROVENANCE });
      images.push(img.ref);
    }
    const verifier = new RegistryClient({});
    let connects = 0;
    const counted = (): void => void connects++;
    diagnostics.subscribe('undici:client:connected', counted);
    try {
      const out = await verifyImageAttestations({ client: verifier, images, key: pub, ignoreTlog: true, type: SLSA1, maxWorkers: 1 });
      assert.deepEqual(out.map((o) => o.error?.message), images.map(() => undefined));
      assert.deepEqual(out.map((o) => o.result!.attestations[0]!.statement.subject[0]!.digest.sha256), images.map((r) => r.split('@sha256:')[1]));
    } finally {
      diagnostics.unsubscribe('undici:client:connected', counted);
      await verifier.close();
    }
    // One image at a time needs at most three requests at once (image, fallback index, .att tag).
    assert.ok(connects <= 4, `${connects} connections for ${images.length} images`);
  });

  test('a bad predicate or a failed log upload pushes nothing', async () => {
    const img = await freshImage();
    await assert.rejects(attest([img.ref], { type: 'slsaprovenance1', predicate: Buffer.from('{"nope": 1}') }), code('MALFORMED', /buildDefinition/));
    await assert.rejects(attest([img.ref], { type: 'cyclonedx', predicate: Buffer.from('not json') }), code('MALFORMED'));
    await assert.rejects(attest([img.ref], { tlog: { url: 'http://127.0.0.1:9', majorApiVersion: 1 } }));
    await assert.rejects(attest([img.ref], { newBundleFormat: false, tlog: { url: 'http://127.0.0.1:9', majorApiVersion: 1 } }));
    assert.equal((await client.referrers(img.repo, img.digest)).manifests.length, 0);
    assert.equal(await client.headManifest(img.repo, attachmentTag(img.digest, 'att')), null);
  });
});

describe('legacy .att written by hand (no Signet writer)', () => {
  test('verifies; a subject naming another digest is refused; a tampered layer is refused beside a good one; a non-DSSE layer is a clear rejection', async () => {
    const img = await freshImage();
    const name = `${img.repo.registry}/${img.repo.repository}`;
    const statement = (hex: string, predicate: object = { result: 'pass' }) => ({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name, digest: { sha256: hex } }], predicateType: 'https://example.com/test-result/v1', predicate });
    const good = handEnvelope(statement(img.digest.slice(7)));
    await rawPushAtt(img.repo, img.digest, [good], [{ predicateType: 'https://example.com/test-result/v1' }]);
    const v = await only(img.ref, { type: 'https://example.com/test-result/v1' });
    assert.equal(v.attestations.length, 1);
    assert.equal(v.attestations[0]!.envelopeJson.toString(), good.toString());

    // Another image's digest in the subject.
    const img2 = await freshImage();
    await rawPushAtt(img2.repo, img2.digest, [handEnvelope(statement('11'.repeat(32)))], [{}]);
    await assert.rejects(only(img2.ref, { type: 'https://example.com/test-result/v1' }), code('NO_MATCHING_SIGNATURES', /does not name the image/));
    assert.equal((await only(img2.ref, { type: 'https://example.com/test-result/v1', checkClaims: false })).attestations.length, 1);

    // A tampered payload (signature kept) beside the good one.
    const img3 = await freshImage();
    const genuine = JSON.parse(handEnvelope(statement(img3.digest.slice(7))).toString());
    const tampered = Buffer.from(JSON.stringify({ ...genuine, payload: Buffer.from(JSON.stringify(statement(img3.digest.slice(7), { result: 'forged' }))).toString('base64') }));
    await rawPushAtt(img3.repo, img3.digest, [tampered], [{}]);
    await assert.rejects(only(img3.ref, { type: 'https://example.com/test-result/v1' }), code('NO_MATCHING_SIGNATURES', /no signature of the envelope verifies/));
    await rawPushAtt(img3.repo, img3.digest, [tampered, Buffer.from(JSON.stringify(genuine))], [{}, {}]);
    const both = await only(img3.ref, { type: 'https://example.com/test-result/v1' });
    assert.equal(both.attestations.length, 1);
    assert.equal(both.rejected.length, 1);

    // A layer that is not DSSE.
    const img4 = await freshImage();
    await rawPushAtt(img4.repo, img4.digest, [Buffer.from('{"hello":"world"}')], [{}]);
    await assert.rejects(only(img4.ref), code('NO_MATCHING_SIGNATURES', /not a DSSE envelope/));
  });
});

describe('keyless (signet serve --dev-oidc)', () => {
  const identity = () => ({ identity: 'carol@example.com', issuer: srv.url + '/oidc' });

  for (const newBundleFormat of [true, false]) {
    test(`${newBundleFormat ? 'new format' : 'legacy'}: certificate, log entry and timestamp verify; another identity is refused${newBundleFormat ? '; the sigstore package accepts the bundle' : ''}`, async () => {
      const img = await freshImage();
      await attestImages({ client, signer: ks.signer, keyless: ks, images: [img.ref], predicate: PROVENANCE, type: 'slsaprovenance1', newBundleFormat });
      const v = await only(img.ref, { key: undefined, identity: identity(), trust, ignoreSct: true, useSignedTimestamps: true, ignoreTlog: false, type: 'slsaprovenance1' });
      assert.equal(v.attestations[0]!.identity?.subject, 'carol@example.com');
      assert.equal(v.attestations[0]!.tlogVerified, 1);
      await assert.rejects(only(img.ref, { key: undefined, identity: { identity: 'mallory@example.com', issuer: srv.url + '/oidc' }, trust, ignoreSct: true, type: 'slsaprovenance1' }), code('NO_MATCHING_SIGNATURES', /identity|SAN|subject/i));
      await assert.rejects(only(img.ref, { type: 'slsaprovenance1' }), code('NO_MATCHING_SIGNATURES'));
      if (newBundleFormat) {
        const { manifests } = await client.referrers(img.repo, img.digest);
        const layer = parseImageManifest((await client.getManifest(img.repo, manifests[0]!.digest)).bytes).layers[0]!;
        const bytes = Buffer.from(await (await fetch(`${base()}/${img.repo.repository}/blobs/${layer.digest}`)).arrayBuffer());
        const verifier = new Verifier(toTrustMaterial(ProtoTrustedRoot.fromJSON(JSON.parse(readFileSync(srv.trustedRootPath, 'utf8')))), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
        const policy = { subjectAlternativeName: 'carol@example.com', extensions: { issuer: srv.url + '/oidc' } };
        assert.ok(verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(bytes.toString()))), policy).identity);
        assert.throws(() => verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(bytes.toString()))), { ...policy, subjectAlternativeName: 'mallory@example.com' }));
      } else {
        const layer = parseImageManifest((await client.getManifest(img.repo, attachmentTag(img.digest, 'att'))).bytes).layers[0]!;
        assert.deepEqual(Object.keys(layer.annotations ?? {}).sort(), [
          'dev.cosignproject.cosign/signature',
          'dev.sigstore.cosign/bundle',
          'dev.sigstore.cosign/certificate',
          'dev.sigstore.cosign/chain',
          'dev.sigstore.cosign/rfc3161timestamp',
          'predicateType',
        ]);
      }
    });
  }
});

describe('policies (the AttestationPolicy contract)', () => {
  test('each policy sees every matching statement of the call at once; a pass keeps them, a fail is "N validation errors"', async () => {
    const a = await freshImage();
    const b = await freshImage();
    await attest([a.ref, b.ref], { type: 'slsaprovenance1', predicate: PROVENANCE });
    await attest([a.ref]);
    const calls: number[] = [];
    const policy = (name: string, ok: (s: any) => boolean): AttestationPolicy => ({
      name,
      language: 'cel',
      evaluate: async (statements) => {
        calls.push(statements.length);
        return statements.map((s) => (ok(s) ? { ok: true, policy: name } : { ok: false, policy: name, reason: 'builder is not trusted' }));
      },
    });
    const pass = policy('trusted-builder.cel', (s) => s.predicate.runDetails.builder.id === 'https://example.com/builder');
    const outcomes = await verify([a.ref, b.ref], { type: 'slsaprovenance1', policies: [pass] });
    assert.deepEqual(calls, [2], 'one call with both images\' statements (the custom one is not of the type)');
    assert.deepEqual(outcomes.map((o) => o.result?.attestations[0]?.verdicts), [[{ ok: true, policy: 'trusted-builder.cel' }], [{ ok: true, policy: 'trusted-builder.cel' }]]);
    const fail = policy('other-builder.cel', (s) => s.predicate.runDetails.builder.id === 'https://other.example/builder');
    const [bad] = await verify([a.ref], { type: 'slsaprovenance1', policies: [pass, fail] });
    assert.ok(isSignetError(bad!.error, 'VERIFICATION'));
    assert.match(bad!.error!.message, /^1 validation errors occurred: .*other-builder\.cel: builder is not trusted/);
    assert.equal(bad!.validationErrors?.length, 1);
  });
});

describe('GitHub Actions provenance (pure)', () => {
  const env = {
    GITHUB_ACTIONS: 'true',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: 'octo/app',
    GITHUB_WORKFLOW_REF: 'octo/app/.github/workflows/release.yml@refs/tags/v1.2.3',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_REPOSITORY_ID: '123',
    GITHUB_REPOSITORY_OWNER_ID: '456',
    RUNNER_ENVIRONMENT: 'github-hosted',
    GITHUB_REF: 'refs/tags/v1.2.3',
    GITHUB_SHA: 'a'.repeat(40),
    GITHUB_RUN_ID: '789',
    GITHUB_RUN_ATTEMPT: '2',
  };
  test('the predicate attest-build-provenance writes, from the runner\'s environment', () => {
    assert.deepEqual(githubActionsProvenance(env), {
      buildDefinition: {
        buildType: 'https://actions.github.io/buildtypes/workflow/v1',
        externalParameters: { workflow: { ref: 'refs/tags/v1.2.3', repository: 'https://github.com/octo/app', path: '.github/workflows/release.yml' } },
        internalParameters: { github: { event_name: 'push', repository_id: '123', repository_owner_id: '456', runner_environment: 'github-hosted' } },
        resolvedDependencies: [{ uri: 'git+https://github.com/octo/app@refs/tags/v1.2.3', digest: { gitCommit: 'a'.repeat(40) } }],
      },
      runDetails: {
        builder: { id: 'https://github.com/octo/app/.github/workflows/release.yml@refs/tags/v1.2.3' },
        metadata: { invocationId: 'https://github.com/octo/app/actions/runs/789/attempts/2' },
      },
    });
  });
  test('outside Actions, or with the environment incomplete: a usage error naming what is missing', () => {
    assert.throws(() => githubActionsProvenance({ ...env, GITHUB_ACTIONS: undefined }), code('USAGE', /GitHub Actions/));
    assert.throws(() => githubActionsProvenance({ ...env, GITHUB_SHA: undefined, GITHUB_RUN_ID: '' }), code('USAGE', /GITHUB_SHA, GITHUB_RUN_ID/));
    assert.throws(() => githubActionsProvenance({ ...env, GITHUB_WORKFLOW_REF: 'other/repo/x.yml@main' }), code('USAGE', /GITHUB_WORKFLOW_REF/));
  });
});
