/**
 * Blob attestations as a library user makes and checks them (src/index.ts): cosign's predicate types and
 * statements, `attestBlob` keyed (no log, Rekor v1, legacy) and keyless against a real `signet serve
 * --dev-oidc`, `verifyBlobAttestation` refusing what does not hold, and the `sigstore` package verifying
 * the bundles Signet wrote.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot as ProtoTrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import {
  attestBlob,
  blobAttestationStatement,
  buildAttestationStatement,
  buildPredicate,
  generateKeyPair,
  identityPolicy,
  isSignetError,
  keylessSigner,
  keylessTrust,
  loadTrustedRoot,
  parseAttestationBundle,
  PREDICATE_TYPE_ALIASES,
  resolvePredicateType,
  signerFromPrivateKey,
  tlogTarget,
  verifyBlobAttestation,
  verifyBlobAttestationEvidence,
  type TrustedRoot,
  type VerifyBlobAttestationOptions,
} from '../../src/index.js';
import { buildStatement } from '../../src/sigstore/index.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { devToken } from '../helpers/dev-token.js';

const code = (c: string, re?: RegExp) => (e: unknown) => isSignetError(e, c as never) && (!re || re.test((e as Error).message));
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

describe('predicate types and statements (cosign\'s)', () => {
  test('every alias of cosign\'s table, and any URI as itself; anything else refused', () => {
    assert.deepEqual(Object.keys(PREDICATE_TYPE_ALIASES).sort(), ['custom', 'cyclonedx', 'link', 'openvex', 'slsaprovenance', 'slsaprovenance02', 'slsaprovenance1', 'spdx', 'spdxjson', 'vuln']);
    assert.equal(resolvePredicateType('custom'), 'https://cosign.sigstore.dev/attestation/v1');
    assert.equal(resolvePredicateType('slsaprovenance'), 'https://slsa.dev/provenance/v0.2');
    assert.equal(resolvePredicateType('slsaprovenance02'), 'https://slsa.dev/provenance/v0.2');
    assert.equal(resolvePredicateType('slsaprovenance1'), 'https://slsa.dev/provenance/v1');
    assert.equal(resolvePredicateType('spdxjson'), 'https://spdx.dev/Document');
    assert.equal(resolvePredicateType('cyclonedx'), 'https://cyclonedx.org/bom');
    assert.equal(resolvePredicateType('link'), 'https://in-toto.io/Link/v1');
    assert.equal(resolvePredicateType('vuln'), 'https://cosign.sigstore.dev/attestation/vuln/v1');
    assert.equal(resolvePredicateType('openvex'), 'https://openvex.dev/ns');
    assert.equal(resolvePredicateType('https://example.com/my/v1'), 'https://example.com/my/v1');
    for (const bad of ['slsa', 'provenance', '', 'example.com/x', 'https://']) assert.throws(() => resolvePredicateType(bad), code('USAGE', /invalid predicate type/), bad);
  });

  test('custom: the file\'s text as Data with a Timestamp, in a v0.1 statement laid out as cosign\'s Go writes it', () => {
    const bytes = buildAttestationStatement({ predicate: Buffer.from('{"foo": "bar"}\n'), name: 'a.txt', sha256Hex: 'AB'.repeat(32), now: new Date('2025-02-28T19:18:11.123Z') });
    assert.equal(
      bytes.toString(),
      '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://cosign.sigstore.dev/attestation/v1","subject":[{"name":"a.txt","digest":{"sha256":"' +
        'ab'.repeat(32) +
        '"}}],"predicate":{"Data":"{\\"foo\\": \\"bar\\"}\\n","Timestamp":"2025-02-28T19:18:11Z"}}',
    );
    // Go escapes <, > and & in strings.
    assert.match(buildAttestationStatement({ predicate: Buffer.from('<a&b>'), name: 'x', sha256Hex: '00'.repeat(32) }).toString(), /"Data":"\\u003ca\\u0026b\\u003e"/);
  });

  test('JSON predicates: map types sorted as Go does; struct types need cosign\'s required fields; spdx stays text', () => {
    assert.deepEqual(JSON.stringify(buildPredicate('https://example.com/p', Buffer.from('{"b":1,"a":{"d":2,"c":3}}')).predicate), '{"a":{"c":3,"d":2},"b":1}');
    assert.throws(() => buildPredicate('https://example.com/p', Buffer.from('[1]')), code('MALFORMED', /JSON object/));
    assert.throws(() => buildPredicate('cyclonedx', Buffer.from('not json')), code('MALFORMED', /not valid JSON/));
    assert.throws(() => buildPredicate('slsaprovenance', Buffer.from('{"builder":{}}')), code('MALFORMED', /required field "buildType"/));
    assert.throws(() => buildPredicate('slsaprovenance1', Buffer.from('{"buildDefinition":{}}')), code('MALFORMED', /required field "runDetails"/));
    assert.deepEqual(buildPredicate('slsaprovenance1', Buffer.from('{"runDetails":{},"buildDefinition":{}}')), { predicateType: 'https://slsa.dev/provenance/v1', predicate: { runDetails: {}, buildDefinition: {} } });
    assert.deepEqual(buildPredicate('spdx', Buffer.from('SPDXVersion: SPDX-2.3\n')), { predicateType: 'https://spdx.dev/Document', predicate: 'SPDXVersion: SPDX-2.3\n' });
  });
});

describe('blob attestations through the library', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-attest-lib-'));
  const data = Buffer.from('a blob to attest\n');
  const file = join(dir, 'artifact.txt');
  const signer = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
  const predicate = Buffer.from('{"result":"pass"}');
  let srv: RunningServer;
  let root: TrustedRoot;
  let statement: Buffer;

  before(async () => {
    writeFileSync(file, data);
    srv = await startServer({ dataDir: join(dir, 'srv'), listen: '127.0.0.1:0', requestLog: false, devOidc: true });
    root = await loadTrustedRoot(srv.trustedRootPath);
    statement = blobAttestationStatement({ path: file, sha256Hex: sha256(data).toString('hex'), type: 'https://example.com/test-result/v1', predicate });
  });
  after(async () => {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const keyed = (bundle: Buffer, extra: Partial<VerifyBlobAttestationOptions> = {}): VerifyBlobAttestationOptions => ({
    evidence: parseAttestationBundle(bundle, 'att.json'),
    key: signer.publicKey,
    ignoreTlog: true,
    type: 'https://example.com/test-result/v1',
    ...extra,
  });

  test('the statement names the file by its base name and sha256', () => {
    const st = JSON.parse(statement.toString());
    assert.deepEqual(st.subject, [{ name: 'artifact.txt', digest: { sha256: sha256(data).toString('hex') } }]);
    assert.equal(st._type, 'https://in-toto.io/Statement/v0.1');
  });

  test('keyed, no log: verifies for the file and its digest; another file, another type and a tampered payload are refused', async () => {
    const r = await attestBlob(statement, { signer });
    assert.equal(r.tlogEntries.length, 0);
    const doc = JSON.parse(r.bundle!.toString());
    assert.equal(doc.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
    assert.ok(Buffer.from(doc.dsseEnvelope.payload, 'base64').equals(statement));
    const ok = await verifyBlobAttestation({ path: file }, keyed(r.bundle!));
    assert.ok(ok.payload.equals(statement));
    assert.equal(ok.statement.predicateType, 'https://example.com/test-result/v1');
    verifyBlobAttestationEvidence({ digest: sha256(data), hashAlg: 'sha256' }, keyed(r.bundle!));
    assert.throws(() => verifyBlobAttestationEvidence({ bytes: Buffer.from('other') }, keyed(r.bundle!)), code('VERIFICATION', /does not match any subject/));
    assert.throws(
      () => verifyBlobAttestationEvidence({ bytes: data }, keyed(r.bundle!, { type: 'slsaprovenance1' })),
      code('VERIFICATION', /^none of the attestations matched the predicate type: slsaprovenance1, found: https:\/\/example\.com\/test-result\/v1$/),
    );
    // The default type is cosign's: custom.
    assert.throws(() => verifyBlobAttestationEvidence({ bytes: data }, keyed(r.bundle!, { type: undefined })), code('VERIFICATION', /type: custom, found/));
    doc.dsseEnvelope.payload = Buffer.from(statement.toString().replace('"pass"', '"fail"')).toString('base64');
    assert.throws(() => verifyBlobAttestationEvidence({ bytes: data }, keyed(Buffer.from(JSON.stringify(doc)))), code('VERIFICATION', /signature/));
    // Without the artifact, claims can only be skipped explicitly.
    assert.throws(() => verifyBlobAttestationEvidence(undefined, keyed(r.bundle!)), code('USAGE', /needs the artifact/));
    verifyBlobAttestationEvidence(undefined, keyed(r.bundle!, { checkClaims: false }));
  });

  test('a statement naming another digest signs, and is refused at verification', async () => {
    const other = buildStatement({ type: 'https://in-toto.io/Statement/v1', subjects: [{ name: 'artifact.txt', digest: { sha256: '11'.repeat(32) } }], predicateType: 'https://example.com/test-result/v1', predicate: {} });
    const r = await attestBlob(other, { signer });
    await assert.rejects(verifyBlobAttestation({ path: file }, keyed(r.bundle!)), code('VERIFICATION', /does not match any subject/));
  });

  test('a message-signature bundle and a non-statement are not attestations', async () => {
    await assert.rejects(attestBlob(Buffer.from('{"not":"a statement"}'), { signer }), code('MALFORMED', /in-toto statement/));
    const msg = JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', verificationMaterial: { publicKey: { hint: '' } }, messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: sha256(data).toString('base64') }, signature: 'AA==' } });
    assert.throws(() => parseAttestationBundle(Buffer.from(msg), 'sig.json'), code('VERIFICATION', /holds a signature, not an attestation/));
  });

  test('keyed, Rekor v1: a dsse entry, verified offline against the trusted root; the sigstore package accepts the bundle', async () => {
    const tlog = await tlogTarget({ tlogUpload: true, rekorUrl: srv.url });
    const r = await attestBlob(statement, { signer, ...(tlog ? { tlog } : {}) });
    assert.equal(r.tlogEntries[0]!.kindVersion.kind, 'dsse');
    const v = await verifyBlobAttestation({ path: file }, keyed(r.bundle!, { ignoreTlog: false, trustedRoot: root }));
    assert.equal(v.tlogVerified, true);
    await assert.rejects(verifyBlobAttestation({ path: file }, keyed(r.bundle!, { ignoreTlog: false })), code('TLOG', /no trusted root/));

    const trust = toTrustMaterial(ProtoTrustedRoot.fromJSON(JSON.parse(readFileSync(srv.trustedRootPath, 'utf8'))), () => ({ publicKey: signer.publicKey.key, validFor: () => true }));
    const verifier = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
    verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(r.bundle!.toString()))));
    const other = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
    const wrongKey = toTrustMaterial(ProtoTrustedRoot.fromJSON(JSON.parse(readFileSync(srv.trustedRootPath, 'utf8'))), () => ({ publicKey: other.publicKey.key, validFor: () => true }));
    assert.throws(() => new Verifier(wrongKey, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 }).verify(toSignedEntity(bundleFromJSON(JSON.parse(r.bundle!.toString())))));
  });

  test('keyed, Rekor v2 from a signing config: logged, verified offline by Signet and by the sigstore package; the legacy format refuses v2', async () => {
    const d2 = mkdtempSync(join(tmpdir(), 'signet-attest-v2-'));
    const v2 = await startServer({ dataDir: d2, listen: '127.0.0.1:0', requestLog: false, rekorApiVersion: 2 });
    try {
      const tlog = await tlogTarget({ tlogUpload: true, signingConfig: v2.signingConfigPath });
      assert.equal(tlog?.majorApiVersion, 2);
      const r = await attestBlob(statement, { signer, ...(tlog ? { tlog } : {}) });
      assert.equal(r.tlogEntries.length, 1);
      const v = verifyBlobAttestationEvidence({ bytes: data }, keyed(r.bundle!, { ignoreTlog: false, trustedRoot: await loadTrustedRoot(v2.trustedRootPath) }));
      assert.equal(v.tlogVerified, true);
      const trust = toTrustMaterial(ProtoTrustedRoot.fromJSON(JSON.parse(readFileSync(v2.trustedRootPath, 'utf8'))), () => ({ publicKey: signer.publicKey.key, validFor: () => true }));
      new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundleFromJSON(JSON.parse(r.bundle!.toString()))));
      await assert.rejects(attestBlob(statement, { signer, newBundleFormat: false, ...(tlog ? { tlog } : {}) }), code('USAGE', /Rekor v1/));
    } finally {
      await v2.close();
      rmSync(d2, { recursive: true, force: true });
    }
  });

  test('keyed, legacy: a LocalSignedPayload carrying the envelope and a Rekor v1 bundle, verified offline', async () => {
    const tlog = await tlogTarget({ tlogUpload: true, rekorUrl: srv.url });
    const r = await attestBlob(statement, { signer, newBundleFormat: false, ...(tlog ? { tlog } : {}) });
    assert.ok(r.legacyBundle && r.rekorBundle && !r.bundle);
    const doc = JSON.parse(r.legacyBundle);
    assert.ok(Buffer.from(doc.base64Signature, 'base64').equals(r.envelopeJson));
    const v = await verifyBlobAttestation({ path: file }, keyed(Buffer.from(r.legacyBundle), { ignoreTlog: false, trustedRoot: root }));
    assert.equal(v.tlogVerified, true);
    await assert.rejects(verifyBlobAttestation({ bytes: Buffer.from('other') }, keyed(Buffer.from(r.legacyBundle), { ignoreTlog: false, trustedRoot: root })), code('VERIFICATION', /subject/));
  });

  test('keyless: certificate, log entry and timestamp; verified under the identity, refused for another; the sigstore package agrees', async () => {
    const token = await devToken(srv.url, 'alice@example.com');
    const ks = await keylessSigner({ tlogUpload: true, signingConfig: srv.signingConfigPath, identityToken: token });
    const r = await attestBlob(statement, { keyless: ks });
    assert.equal(r.tlogEntries.length, 1);
    assert.equal(r.timestamps.length, 1);
    const trust = await keylessTrust({ trustedRoot: srv.trustedRootPath });
    const issuer = srv.url + '/oidc';
    const o = (identity: string): VerifyBlobAttestationOptions => ({
      evidence: parseAttestationBundle(r.bundle!, 'att.json'),
      trust,
      identity: identityPolicy({ identity, issuer }),
      ignoreSct: true,
      useSignedTimestamps: true,
      type: 'https://example.com/test-result/v1',
    });
    await verifyBlobAttestation({ path: file }, o('alice@example.com'));
    await assert.rejects(verifyBlobAttestation({ path: file }, o('bob@example.com')), code('VERIFICATION', /identity/));
    assert.throws(() => verifyBlobAttestationEvidence({ bytes: Buffer.from('other') }, o('alice@example.com')), code('VERIFICATION', /subject/));
    // A keyless bundle verified with a key is refused (the certificate holds another key).
    assert.throws(() => verifyBlobAttestationEvidence({ bytes: data }, { ...o('alice@example.com'), key: signer.publicKey, ignoreTlog: true }), code('VERIFICATION'));

    const sjs = new Verifier(toTrustMaterial(ProtoTrustedRoot.fromJSON(JSON.parse(readFileSync(srv.trustedRootPath, 'utf8')))), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 });
    const entity = toSignedEntity(bundleFromJSON(JSON.parse(r.bundle!.toString())));
    assert.ok(sjs.verify(entity, { subjectAlternativeName: 'alice@example.com', extensions: { issuer } }).identity);
    assert.throws(() => sjs.verify(entity, { subjectAlternativeName: 'bob@example.com', extensions: { issuer } }));
  });
});
