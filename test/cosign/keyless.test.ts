/**
 * Keyless library pieces: which services a signing config + flags select (and the combinations refused
 * before any network traffic), and the legacy `.sig` keyless checks against annotations made by a real
 * `signet serve --dev-oidc`, each annotation removed or swapped for one from another Sigstore.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isSignetError } from '../../src/errors.js';
import { RegistryClient } from '../../src/oci/index.js';
import { obtainKeylessSigner, resolveKeylessServices, signBlobKeyless, type KeylessSigner } from '../../src/sigstore/sign-keyless.js';
import { checkLegacyKeyless, certificateClaims } from '../../src/cosign/keyless-verify.js';
import { signImages } from '../../src/cosign/sign.js';
import { verifyOne } from '../../src/cosign/verify.js';
import { ANNOTATION, attachmentTag, parseImageManifest } from '../../src/cosign/storage.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { buildSigningConfig, parseSigningConfig, publicGoodSigningConfig } from '../../src/sigstore/signing-config.js';
import { parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { prepareTrust, type TrustMaterial } from '../../src/sigstore/verifier.js';
import { pushRandomImage, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { devToken } from '../helpers/dev-token.js';

describe('resolveKeylessServices', () => {
  const start = new Date('2024-01-01T00:00:00Z');
  const cfg = (rekorVersion: 1 | 2, tsa: boolean) =>
    buildSigningConfig({ caUrl: 'http://127.0.0.1:1', rekorUrl: 'http://127.0.0.1:2', rekorVersion, ...(tsa ? { tsaUrl: 'http://127.0.0.1:3/api/v1/timestamp' } : {}), start });

  test('selects CA, log and TSA from the config; flags override each', () => {
    assert.deepEqual(resolveKeylessServices(cfg(1, true)), { caUrl: 'http://127.0.0.1:1', tlogs: [{ url: 'http://127.0.0.1:2', majorApiVersion: 1 }], tsaUrls: ['http://127.0.0.1:3/api/v1/timestamp'] });
    const o = resolveKeylessServices(cfg(2, true), { caUrl: 'http://ca.test', rekorUrl: 'http://rekor.test', tsaUrl: 'http://tsa.test/t' });
    assert.deepEqual(o, { caUrl: 'http://ca.test', tlogs: [{ url: 'http://rekor.test', majorApiVersion: 1 }], tsaUrls: ['http://tsa.test/t'] });
    assert.deepEqual(resolveKeylessServices(cfg(1, true), { tlogUpload: false }).tlogs, []);
    const pg = resolveKeylessServices(publicGoodSigningConfig());
    assert.equal(pg.caUrl, 'https://fulcio.sigstore.dev');
  });

  test('refuses what could never verify, and bad URLs, as usage errors', () => {
    const usage = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e) => isSignetError(e, 'USAGE') && re.test((e as Error).message));
    usage(() => resolveKeylessServices(cfg(2, false)), /Rekor v2.*timestamp authority/);
    usage(() => resolveKeylessServices(cfg(1, false), { tlogUpload: false }), /without a transparency log needs a timestamp authority/);
    usage(() => resolveKeylessServices({ ...cfg(1, true), caUrls: [] }), /--fulcio-url/);
    usage(() => resolveKeylessServices(cfg(1, true), { caUrl: 'not a url' }), /--fulcio-url/);
    usage(() => resolveKeylessServices(cfg(1, true), { tsaUrl: 'ftp://x' }), /--timestamp-server-url/);
    // Valid only from next year: nothing selected now.
    const future = buildSigningConfig({ caUrl: 'http://127.0.0.1:1', rekorUrl: 'http://127.0.0.1:2', rekorVersion: 1, start: new Date(Date.now() + 3.6e6) });
    usage(() => resolveKeylessServices(future), /certificate authority/);
  });
});

describe('legacy .sig keyless checks', () => {
  let srv: RunningServer;
  let other: RunningServer;
  let reg: RunningRegistry;
  let client: RegistryClient;
  let ks: KeylessSigner;
  let trust: TrustMaterial;
  let annotations: Record<string, string>;
  let payload: Buffer;
  let foreign: Record<string, string>;
  let ref: string;
  const dir = mkdtempSync(join(tmpdir(), 'signet-keyless-lib-'));
  const policy = () => ({ identity: 'carol@example.com', issuer: srv.url + '/oidc' });

  async function signLegacy(signer: KeylessSigner, repository: string): Promise<{ annotations: Record<string, string>; payload: Buffer; ref: string }> {
    const repo = { registry: reg.host, repository };
    const img = await pushRandomImage(client, repo, 'v1');
    const r = `${repo.registry}/${repo.repository}@${img.digest}`;
    await signImages({ client, signer: signer.signer, keyless: signer, images: [r], newBundleFormat: false });
    const layer = parseImageManifest((await client.getManifest(repo, attachmentTag(img.digest, 'sig'))).bytes).layers[0]!;
    return { annotations: layer.annotations!, payload: await client.getBlob(repo, layer.digest), ref: r };
  }

  before(async () => {
    [srv, other, reg] = await Promise.all([
      startServer({ dataDir: join(dir, 's'), listen: '127.0.0.1:0', requestLog: false, devOidc: true }),
      startServer({ dataDir: join(dir, 'o'), listen: '127.0.0.1:0', requestLog: false, devOidc: true }),
      startRegistry(),
    ]);
    client = new RegistryClient({});
    const services = (s: RunningServer) => resolveKeylessServices(parseSigningConfig(readFileSync(s.signingConfigPath)));
    ks = await obtainKeylessSigner(services(srv), await devToken(srv.url, 'carol@example.com'));
    trust = prepareTrust(parseTrustedRoot(readFileSync(srv.trustedRootPath)));
    ({ annotations, payload, ref } = await signLegacy(ks, 'lib/legacy'));
    const oks = await obtainKeylessSigner(services(other), await devToken(other.url, 'carol@example.com'));
    foreign = (await signLegacy(oks, 'lib/foreign')).annotations;
  });
  after(async () => {
    await client.close();
    await Promise.all([srv.close(), other.close(), reg.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const check = (a: Record<string, string>, extra: Partial<Parameters<typeof checkLegacyKeyless>[0]> = {}) =>
    checkLegacyKeyless({ annotations: a, payload, signature: Buffer.from(a[ANNOTATION.signature]!, 'base64'), trust, identity: policy(), ignoreTlog: false, ignoreSct: true, useSignedTimestamps: false, ...extra });

  test('the annotations as signed verify; output claims carry Subject, Issuer, Bundle, RFC3161Timestamp', () => {
    const r = check(annotations, { useSignedTimestamps: true });
    assert.equal(r.identity.subject, 'carol@example.com');
    assert.equal(r.tlog?.length, 1);
    assert.ok(r.optional.Bundle && r.optional.RFC3161Timestamp);
    assert.deepEqual(certificateClaims(r.identity), { Subject: 'carol@example.com', Issuer: srv.url + '/oidc', '1.3.6.1.4.1.57264.1.1': srv.url + '/oidc' });
  });

  test('each missing or foreign annotation fails for its own reason', () => {
    const without = (k: string) => Object.fromEntries(Object.entries(annotations).filter(([key]) => key !== k));
    assert.throws(() => check(without(ANNOTATION.certificate)), (e) => isSignetError(e, 'NO_CERTIFICATE'));
    assert.throws(() => check(without(ANNOTATION.bundle)), (e) => isSignetError(e, 'TLOG') && /Rekor bundle/.test((e as Error).message));
    assert.throws(() => check(without(ANNOTATION.rfc3161), { useSignedTimestamps: true }), /--use-signed-timestamps/);
    // Without the log, the timestamp alone dates the certificate.
    assert.equal(check(annotations, { ignoreTlog: true }).tlog, undefined);
    // Another Sigstore's certificate: the log entry names our certificate, not theirs.
    assert.throws(() => check({ ...annotations, [ANNOTATION.certificate]: foreign[ANNOTATION.certificate]! }), /transparency log entry/);
    assert.throws(() => check({ ...annotations, [ANNOTATION.certificate]: foreign[ANNOTATION.certificate]! }, { ignoreTlog: true }), /certificate chain/);
    assert.throws(() => check({ ...annotations, [ANNOTATION.bundle]: foreign[ANNOTATION.bundle]! }), /transparency log entry/);
    assert.throws(() => check({ ...annotations, [ANNOTATION.rfc3161]: foreign[ANNOTATION.rfc3161]! }), /RFC 3161 timestamp/);
    assert.throws(() => check({ ...annotations, [ANNOTATION.rfc3161]: '{"SignedRFC3161Timestamp":1}' }), /SignedRFC3161Timestamp/);
    assert.throws(() => check({ ...annotations, [ANNOTATION.certificate]: 'not pem' }), /certificate/);
    // The SCT is demanded by default; this CA has none.
    assert.throws(() => check(annotations, { ignoreSct: false }), /SCT/);
    assert.throws(() => check(annotations, { identity: { identity: 'carol@example.com', issuer: 'https://accounts.google.com' } }), /issuer/);
  });

  test('verifyOne: keyless needs an identity policy and trust, and reports the verified identity', async () => {
    await assert.rejects(verifyOne({ client, images: [ref], trust }, ref), (e) => isSignetError(e, 'USAGE'));
    await assert.rejects(verifyOne({ client, images: [ref], identity: policy() }, ref), (e) => isSignetError(e, 'USAGE'));
    const v = await verifyOne({ client, images: [ref], identity: policy(), trust, ignoreSct: true }, ref);
    assert.equal(v.verified[0]!.identity?.subject, 'carol@example.com');
  });

  test('signBlobKeyless: one certificate signs many blobs, each logged and timestamped', async () => {
    const a = await signBlobKeyless(ks, Buffer.from('one'));
    const b = await signBlobKeyless(ks, Buffer.from('two'));
    assert.equal(a.tlogEntries.length, 1);
    assert.equal(a.timestamps.length, 1);
    assert.notEqual(a.tlogEntries[0]!.logIndex, b.tlogEntries[0]!.logIndex);
  });
});
