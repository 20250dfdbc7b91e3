/**
 * The blob flows as a library user calls them (src/index.ts): sign a blob with a key or keyless and
 * verify it, against a real `signet serve` for the log, CA, TSA and OIDC issuer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  generateKeyPair,
  identityPolicy,
  isSignetError,
  keylessSigner,
  keylessTrust,
  loadTrustedRoot,
  parseBlobBundle,
  signBlob,
  signerFromPrivateKey,
  signerIdentity,
  tlogTarget,
  verifyBlob,
  verifyBlobEvidence,
  type BlobEvidence,
  type TrustedRoot,
} from '../../src/index.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { devToken } from '../helpers/dev-token.js';

const code = (c: string, re?: RegExp) => (e: unknown) => isSignetError(e, c as never) && (!re || re.test((e as Error).message));

describe('blob flows through the library', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-blob-lib-'));
  const data = Buffer.from('a blob to sign\n');
  const file = join(dir, 'artifact.txt');
  const signer = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
  let srv: RunningServer;
  let root: TrustedRoot;

  before(async () => {
    writeFileSync(file, data);
    srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true, rekorApiVersion: 2 });
    root = await loadTrustedRoot(srv.trustedRootPath);
  });
  after(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('keyed, no log: a Sigstore bundle that verifies for the file, its bytes and its digest, and not for other bytes', async () => {
    const r = await signBlob(data, { signer });
    assert.equal(r.tlogEntries.length, 0);
    assert.ok(r.bundle && !r.legacyBundle);
    const evidence = parseBlobBundle(r.bundle, 'mem');
    const o = { evidence, key: signer.publicKey, ignoreTlog: true };
    assert.deepEqual(await verifyBlob({ path: file }, o), { warnings: [], tlogVerified: false });
    verifyBlobEvidence({ bytes: data }, o);
    verifyBlobEvidence({ digest: createHash('sha256').update(data).digest(), hashAlg: 'sha256' }, o);
    assert.throws(() => verifyBlobEvidence({ bytes: Buffer.from('other') }, o), code('VERIFICATION'));
  });

  test('keyed with Ed25519: the bundle records SHA2_512 and the file is verified by its bytes', async () => {
    const ed = signerFromPrivateKey(generateKeyPair('ed25519').privateKey);
    const r = await signBlob(data, { signer: ed });
    assert.equal(r.hashAlg, 'sha512');
    const evidence = parseBlobBundle(r.bundle!, 'mem');
    await verifyBlob({ path: file }, { evidence, key: ed.publicKey, ignoreTlog: true });
    await assert.rejects(verifyBlob({ path: file }, { evidence, key: signer.publicKey, ignoreTlog: true }), (e) => isSignetError(e));
  });

  test('keyed: without log evidence or a trusted root, refused before the artifact is read', async () => {
    const r = await signBlob(data, { signer });
    const evidence = parseBlobBundle(r.bundle!, 'mem');
    // The path does not exist: the policy error comes first, so it is never opened.
    await assert.rejects(verifyBlob({ path: join(dir, 'missing') }, { evidence, key: signer.publicKey }), code('TLOG', /--insecure-ignore-tlog/));
  });

  test('keyed, Rekor v1 by URL: the bundle\'s entry verifies offline against the trusted root', async () => {
    const tlog = await tlogTarget({ tlogUpload: true, rekorUrl: srv.url });
    assert.deepEqual(tlog, { url: srv.url, majorApiVersion: 1 });
    const r = await signBlob(data, { signer, tlog: tlog! });
    assert.equal(r.tlogEntries.length, 1);
    const v = await verifyBlob({ path: file }, { evidence: parseBlobBundle(r.bundle!, 'mem'), key: signer.publicKey, trustedRoot: root });
    assert.equal(v.tlogVerified, true);
  });

  test('keyed, Rekor v2 from the signing config: logged in the bundle; the legacy format refuses v2', async () => {
    const tlog = await tlogTarget({ tlogUpload: true, signingConfig: srv.signingConfigPath });
    assert.equal(tlog?.majorApiVersion, 2);
    const r = await signBlob(data, { signer, tlog: tlog! });
    assert.equal(r.tlogEntries.length, 1);
    assert.equal((await verifyBlob({ path: file }, { evidence: parseBlobBundle(r.bundle!, 'mem'), key: signer.publicKey, trustedRoot: root })).tlogVerified, true);
    await assert.rejects(signBlob(data, { signer, tlog: tlog!, newBundleFormat: false }), code('USAGE', /Rekor v1 entries only/));
  });

  test('keyed, legacy: a LocalSignedPayload with a Rekor v1 bundle, and the bare signature', async () => {
    const tlog = await tlogTarget({ tlogUpload: true, rekorUrl: srv.url });
    const r = await signBlob(data, { signer, tlog: tlog!, newBundleFormat: false });
    assert.ok(r.legacyBundle && r.rekorBundle && !r.bundle);
    const evidence = parseBlobBundle(Buffer.from(r.legacyBundle), 'legacy.json');
    assert.equal(evidence.kind, 'signature');
    assert.equal((await verifyBlob({ path: file }, { evidence, key: signer.publicKey, trustedRoot: root })).tlogVerified, true);
    const bare: BlobEvidence = { kind: 'signature', signature: r.signature, tlogEntries: 0 };
    await verifyBlob({ path: file }, { evidence: bare, key: signer.publicKey, ignoreTlog: true });
    // A bare signature has no log entry for the trusted root to check.
    assert.throws(() => verifyBlobEvidence({ bytes: data }, { evidence: bare, key: signer.publicKey, trustedRoot: root }), code('TLOG', /no rekorBundle/));
  });

  test('tlogTarget: no log configured, both flags, or an unreadable config are clear errors; upload off is none', async () => {
    assert.equal(await tlogTarget({ tlogUpload: false, rekorUrl: srv.url }), undefined);
    await assert.rejects(tlogTarget({ tlogUpload: true }), code('USAGE', /no transparency log is configured/));
    await assert.rejects(tlogTarget({ tlogUpload: true, rekorUrl: srv.url, signingConfig: srv.signingConfigPath }), code('USAGE', /cannot be used together/));
    await assert.rejects(tlogTarget({ tlogUpload: true, signingConfig: join(dir, 'nope.json') }), code('IO', /signing config/));
  });

  test('keyless: signed as the token\'s identity; verifies under the identity policy, not under another', async () => {
    const token = await devToken(srv.url, 'carol@example.com');
    const ks = await keylessSigner({ tlogUpload: true, signingConfig: srv.signingConfigPath, identityToken: token });
    assert.deepEqual(signerIdentity(ks), { subject: 'carol@example.com', issuer: srv.url + '/oidc' });
    const r = await signBlob(data, { keyless: ks });
    assert.equal(r.tlogEntries.length, 1);
    assert.equal(r.timestamps.length, 1);
    const evidence = parseBlobBundle(r.bundle!, 'keyless.json');
    const trust = await keylessTrust({ trustedRoot: srv.trustedRootPath });
    const identity = identityPolicy({ identity: 'carol@example.com', issuer: srv.url + '/oidc', identityRegexp: '' });
    assert.deepEqual(identity, { identity: 'carol@example.com', issuer: srv.url + '/oidc' });
    await verifyBlob({ path: file }, { evidence, trust, identity, useSignedTimestamps: true });
    await assert.rejects(verifyBlob({ path: file }, { evidence, trust, identity: identityPolicy({ identity: 'dave@example.com', issuer: srv.url + '/oidc' }) }), code('VERIFICATION'));
    // A key-signed bundle has no certificate for a keyless check.
    const keyed = parseBlobBundle((await signBlob(data, { signer })).bundle!, 'keyed.json');
    await assert.rejects(verifyBlob({ path: file }, { evidence: keyed, evidenceName: 'keyed.json', trust, identity }), code('NO_CERTIFICATE', /^keyed\.json was signed with a key/));
  });

  test('identityPolicy: identity and issuer are both required, regexps must compile', () => {
    assert.throws(() => identityPolicy({ identity: 'a@example.com' }), code('USAGE', /--certificate-oidc-issuer/));
    assert.throws(() => identityPolicy({ identity: '', issuer: 'https://issuer.example' }), code('USAGE', /--certificate-identity/));
    assert.throws(() => identityPolicy({ identityRegexp: '(', issuer: 'https://issuer.example' }), code('USAGE', /invalid regular expression/));
  });

  test('the file verified is the file read: a changed file fails', async () => {
    const r = await signBlob(data, { signer });
    const changed = join(dir, 'changed.txt');
    writeFileSync(changed, Buffer.concat([readFileSync(file), Buffer.from('x')]));
    await assert.rejects(verifyBlob({ path: changed }, { evidence: parseBlobBundle(r.bundle!, 'mem'), key: signer.publicKey, ignoreTlog: true }), code('VERIFICATION'));
  });
});
