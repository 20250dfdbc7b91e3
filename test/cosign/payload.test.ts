import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSimpleSigningClaims, parseSimpleSigningPayload, simpleSigningPayload } from '../../src/cosign/payload.js';
import { attachmentTag, buildBundleReferrerManifest, buildLegacySignatureManifest, layerDescriptor, parseImageManifest, sha256Digest } from '../../src/cosign/storage.js';
import { isSignetError } from '../../src/errors.js';

const DIGEST = 'sha256:703218c0465075f4425e58fac086e09e1de5c340b12976ab9eb8ad26615c3715';

test('simple-signing payload is byte-identical to cosign (Go encoding/json)', () => {
  // The exact bytes cosign writes for index.docker.io/library/ubuntu at this digest (cosign's SIGNATURE_SPEC).
  const expected =
    '{"critical":{"identity":{"docker-reference":"index.docker.io/library/ubuntu"},"image":{"docker-manifest-digest":"sha256:703218c0465075f4425e58fac086e09e1de5c340b12976ab9eb8ad26615c3715"},"type":"cosign container image signature"},"optional":null}';
  assert.equal(simpleSigningPayload('index.docker.io/library/ubuntu', DIGEST).toString(), expected);
});

test('annotations are sorted and HTML characters escaped as Go does', () => {
  const p = simpleSigningPayload('r/x', DIGEST, { zeta: 'a<b>&c', alpha: '1=2' }).toString();
  assert.match(p, /"optional":\{"alpha":"1=2","zeta":"a\\u003cb\\u003e\\u0026c"\}\}$/);
  assert.deepEqual(parseSimpleSigningPayload(Buffer.from(p)).optional, { alpha: '1=2', zeta: 'a<b>&c' });
});

test('payload keys are matched case-insensitively, as old cosign payloads need', () => {
  const old = Buffer.from(`{"Critical":{"Identity":{"docker-reference":"x"},"Image":{"Docker-manifest-digest":"${DIGEST}"},"Type":"cosign container image signature"},"Optional":{"a":"b"}}`);
  const parsed = parseSimpleSigningPayload(old);
  checkSimpleSigningClaims(parsed, DIGEST, { a: 'b' });
});

test('claims: another digest, a missing or different annotation are refused with the reason', () => {
  const parsed = parseSimpleSigningPayload(simpleSigningPayload('r/x', DIGEST, { env: 'prod' }));
  const other = 'sha256:' + 'a'.repeat(64);
  assert.throws(() => checkSimpleSigningClaims(parsed, other), (e) => isSignetError(e, 'VERIFICATION') && /not for the image/.test(e.message));
  assert.throws(() => checkSimpleSigningClaims(parsed, DIGEST, { env: 'dev' }), /annotation env: expected "dev"/);
  assert.throws(() => checkSimpleSigningClaims(parsed, DIGEST, { team: 'x' }), /annotation team: expected "x", signature has missing/);
});

test('malformed payloads are MALFORMED', () => {
  for (const bad of ['not json', '{}', '{"critical":{"image":{}}}', '[]']) {
    assert.throws(() => parseSimpleSigningPayload(Buffer.from(bad)), (e) => isSignetError(e, 'MALFORMED'));
  }
});

test('attachment tags follow cosign and refuse bad digests', () => {
  assert.equal(attachmentTag(DIGEST, 'sig'), DIGEST.replace(':', '-') + '.sig');
  assert.equal(attachmentTag(DIGEST), DIGEST.replace(':', '-'));
  assert.throws(() => attachmentTag('sha256:abc', 'sig'), (e) => isSignetError(e, 'MALFORMED'));
  assert.throws(() => attachmentTag('md5:' + 'a'.repeat(32), 'sig'), (e) => isSignetError(e, 'MALFORMED'));
});

test('legacy .sig manifest: ggcr empty image + layers, config diff_ids and history per layer', () => {
  const payload = simpleSigningPayload('r/x', DIGEST);
  const layer = layerDescriptor({ payload, mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', annotations: { 'dev.cosignproject.cosign/signature': 'c2ln' } });
  const built = buildLegacySignatureManifest([{ descriptor: layer }, { descriptor: layer }]);
  const cfg = JSON.parse(built.config.toString());
  assert.deepEqual(cfg.rootfs.diff_ids, [sha256Digest(payload), sha256Digest(payload)]);
  assert.equal(cfg.history.length, 2);
  assert.ok(built.config.toString().startsWith('{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}'));
  const m = parseImageManifest(built.manifest);
  assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(m.config!.digest, sha256Digest(built.config));
  assert.equal(m.layers[0]!.annotations!['dev.cosignproject.cosign/signature'], 'c2ln');
  const docker = buildLegacySignatureManifest([{ descriptor: layer }], true);
  assert.equal(docker.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  assert.equal(JSON.parse(docker.manifest.toString()).config.mediaType, 'application/vnd.docker.container.image.v1+json');
});

test('a signature image cannot grow past 1000 layers', () => {
  const d = { descriptor: { mediaType: 'x', digest: DIGEST, size: 1 } };
  assert.throws(() => buildLegacySignatureManifest(Array.from({ length: 1001 }, () => d)), (e) => isSignetError(e, 'TOO_LARGE'));
});

test('bundle referrer manifest is the one cosign v3 writes', () => {
  const bundle = Buffer.from('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}');
  const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, size: 123 };
  const { manifest } = buildBundleReferrerManifest({ bundle, subject, predicateType: 'https://sigstore.dev/cosign/sign/v1', content: 'dsse-envelope', created: new Date('2026-07-24T18:31:00.123Z') });
  const m = JSON.parse(manifest.toString());
  assert.equal(m.artifactType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  assert.deepEqual(m.config, { mediaType: 'application/vnd.oci.empty.v1+json', size: 2, digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' });
  assert.deepEqual(m.layers, [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', size: bundle.length, digest: sha256Digest(bundle) }]);
  assert.deepEqual(m.subject, subject);
  assert.deepEqual(m.annotations, {
    'dev.sigstore.bundle.content': 'dsse-envelope',
    'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
    'org.opencontainers.image.created': '2026-07-24T18:31:00Z',
  });
});
