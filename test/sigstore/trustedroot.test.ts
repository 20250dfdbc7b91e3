import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { isSignetError } from '../../src/errors.js';
import { findLog, findLogsByKeyHint, parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { PUBLIC_GOOD_TLOGS, publicGoodRoot } from './tlog-fixtures.js';

const malformed = (re: RegExp) => (e: unknown) => isSignetError(e, 'MALFORMED') && re.test((e as Error).message);
const withLog = (patch: (l: any) => any) => publicGoodRoot(PUBLIC_GOOD_TLOGS.map((l: any, i: number) => (i === 0 ? patch(structuredClone(l)) : l)));

test('the public-good trusted root parses: both Rekor logs with keys, validity and IDs', () => {
  const r = parseTrustedRoot(publicGoodRoot());
  assert.equal(r.tlogs.length, 2);
  const [v1, v2] = r.tlogs;
  assert.equal(v1!.baseUrl, 'https://rekor.sigstore.dev');
  assert.equal(v1!.publicKey.asymmetricKeyType, 'ec');
  assert.equal(v1!.logId.toString('hex'), 'c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d');
  assert.equal(v1!.validFor.start?.toISOString(), '2021-01-12T11:53:27.000Z');
  assert.equal(v2!.keyDetails, 'PKIX_ED25519');
  assert.equal(findLog(r, v2!.logId), v2);
  assert.equal(findLog(r, Buffer.alloc(32)), undefined);
  assert.deepEqual(findLogsByKeyHint(r, Buffer.from('c0d23d6a', 'hex')), [v1]);
  assert.deepEqual(findLogsByKeyHint(r, v2!.logId.subarray(0, 4)), [v2]);
});

test('v0.2 media type and checkpointKeyId are accepted; CAs and TSAs are kept raw', () => {
  const doc = JSON.parse(withLog((l) => ({ ...l, checkpointKeyId: { keyId: Buffer.alloc(32, 7).toString('base64') }, operator: 'example' })));
  doc.mediaType = 'application/vnd.dev.sigstore.trustedroot.v0.2+json';
  doc.certificateAuthorities = [{ uri: 'https://ca.example' }];
  const r = parseTrustedRoot(JSON.stringify(doc));
  assert.equal(findLog(r, Buffer.alloc(32, 7))?.operator, 'example');
  assert.deepEqual(r.certificateAuthorities, [{ uri: 'https://ca.example' }]);
});

test('a trusted root that is not one is refused, naming the field', () => {
  assert.throws(() => parseTrustedRoot('not json'), malformed(/not valid JSON/));
  assert.throws(() => parseTrustedRoot('[]'), malformed(/document is not an object/));
  assert.throws(() => parseTrustedRoot(publicGoodRoot().replace('version=0.1', 'version=9')), malformed(/media type/));
  assert.throws(() => parseTrustedRoot(JSON.stringify({ ...JSON.parse(publicGoodRoot()), tlogs: {} })), malformed(/tlogs is not a list/));
  assert.throws(() => parseTrustedRoot(JSON.stringify({ ...JSON.parse(publicGoodRoot()), tlogs: [7] })), malformed(/tlogs\[0\] is not an object/));
  assert.throws(() => parseTrustedRoot(JSON.stringify({ ...JSON.parse(publicGoodRoot()), ctlogs: ['x'] })), malformed(/ctlogs\[0\] is not an object/));
  assert.throws(() => parseTrustedRoot(publicGoodRoot([PUBLIC_GOOD_TLOGS[0], PUBLIC_GOOD_TLOGS[0]])), malformed(/twice/));
});

test('a log whose entry Signet cannot use is kept as unusable with the reason, not a refused root', () => {
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const cases: Array<[string, (l: any) => any, RegExp]> = [
    ['a key that is not DER', (l) => ({ ...l, publicKey: { ...l.publicKey, rawBytes: 'AAAA' } }), /tlogs\[0\]\.publicKey\.rawBytes is not a DER SubjectPublicKeyInfo/],
    ['a key that is not base64', (l) => ({ ...l, publicKey: { ...l.publicKey, rawBytes: 'not base64!' } }), /rawBytes is not base64/],
    ['no key bytes', (l) => ({ ...l, publicKey: { keyDetails: l.publicKey.keyDetails, validFor: l.publicKey.validFor } }), /rawBytes is missing/],
    ['no public key', (l) => ({ ...l, publicKey: undefined }), /publicKey is missing/],
    ['a key of another type than its details', (l) => ({ ...l, publicKey: { ...l.publicKey, keyDetails: 'PKIX_ED25519' } }), /is a ec prime256v1 key, but keyDetails says PKIX_ED25519/],
    ['another curve than its details', (l) => ({ ...l, publicKey: { ...l.publicKey, rawBytes: p384 } }), /secp384r1 key, but keyDetails says PKIX_ECDSA_P256_SHA_256/],
    ['an unknown key type', (l) => ({ ...l, publicKey: { ...l.publicKey, keyDetails: 'NOPE' } }), /keyDetails "NOPE" is not a key type Signet knows/],
    ['an ML-DSA key', (l) => ({ ...l, publicKey: { ...l.publicKey, keyDetails: 'ML_DSA_65' } }), /ML_DSA_65: ML-DSA keys are not supported/],
    ['an LMS key', (l) => ({ ...l, publicKey: { ...l.publicKey, keyDetails: 'LMS_SHA256' } }), /LMS keys are not supported/],
    ['an RSA-PSS key', (l) => ({ ...l, publicKey: { ...l.publicKey, keyDetails: 'PKIX_RSA_PSS_2048_SHA256' } }), /RSA-PSS/],
    ['a P-384 key signing with SHA-256', (l) => ({ ...l, publicKey: { ...l.publicKey, rawBytes: p384, keyDetails: 'PKIX_ECDSA_P384_SHA_256' } }), /PKIX_ECDSA_P384_SHA_256: Signet checks log signatures of this curve with sha384/],
    ['a validity that is not a time', (l) => ({ ...l, publicKey: { ...l.publicKey, validFor: { start: 'yesterday' } } }), /validFor\.start is not an RFC 3339/],
    ['a validity without a start', (l) => ({ ...l, publicKey: { ...l.publicKey, validFor: { end: '2030-01-01T00:00:00Z' } } }), /validFor has no start/],
    ['a validity that ends before it starts', (l) => ({ ...l, publicKey: { ...l.publicKey, validFor: { start: '2022-01-01T00:00:00Z', end: '2021-01-01T00:00:00Z' } } }), /ends before it starts/],
    ['an empty log ID', (l) => ({ ...l, logId: { keyId: '' } }), /logId\.keyId is missing/],
    ['no log ID', (l) => ({ ...l, logId: undefined }), /logId is missing/],
    ['an unknown Merkle hash', (l) => ({ ...l, hashAlgorithm: 'MD5' }), /hash algorithm/],
  ];
  for (const [what, patch, reason] of cases) {
    const r = parseTrustedRoot(withLog(patch));
    assert.equal(r.tlogs.length, 1, what);
    assert.equal(r.tlogs[0]!.baseUrl, 'https://log2025-1.rekor.sigstore.dev', what);
    assert.equal(r.unusable?.length, 1, what);
    assert.match(r.unusable![0]!.reason, reason, what);
    assert.equal(r.unusable![0]!.list, 'tlogs');
  }
});

test('optional fields may be absent or null, unknown fields are ignored, enums may be numbers, bytes base64url', () => {
  const doc = JSON.parse(publicGoodRoot());
  doc.futureField = { anything: true };
  doc.certificateAuthorities = null;
  doc.tlogs[0] = { ...doc.tlogs[0], operator: null, checkpointKeyId: null, newField: 1, publicKey: { ...doc.tlogs[0].publicKey, futureKeyField: 'x' } };
  const v2 = doc.tlogs[1];
  v2.publicKey.keyDetails = 7; // PKIX_ED25519 as its enum number
  v2.hashAlgorithm = 1; // SHA2_256
  v2.publicKey.rawBytes = Buffer.from(v2.publicKey.rawBytes, 'base64').toString('base64url');
  doc.tlogs[0].publicKey.rawBytes = doc.tlogs[0].publicKey.rawBytes.replace(/(.{64})/g, '$1\n'); // wrapped like base64(1)
  doc.tlogs[0].publicKey.validFor.end = null;
  delete v2.baseUrl;
  delete v2.publicKey.validFor;
  const r = parseTrustedRoot(JSON.stringify(doc));
  assert.equal(r.unusable, undefined);
  assert.equal(r.tlogs.length, 2);
  assert.equal(r.tlogs[0]!.operator, undefined);
  assert.equal(r.tlogs[0]!.checkpointKeyId, undefined);
  assert.equal(r.tlogs[1]!.keyDetails, 'PKIX_ED25519');
  assert.equal(r.tlogs[1]!.baseUrl, '');
  assert.deepEqual(r.tlogs[1]!.validFor, {});
  assert.deepEqual(r.certificateAuthorities, []);
});

test('a log the root lists with an unusable key is an error only when it is looked up, naming it and why', () => {
  const r = parseTrustedRoot(withLog((l) => ({ ...l, publicKey: { ...l.publicKey, keyDetails: 'ML_DSA_87' } })));
  const id = Buffer.from(PUBLIC_GOOD_TLOGS[0]!.logId.keyId, 'base64');
  assert.equal(findLog(r, Buffer.alloc(32)), undefined);
  assert.throws(
    () => findLog(r, id),
    (e: unknown) => isSignetError(e, 'TLOG') && (e as Error).message.includes(`transparency log https://rekor.sigstore.dev (log ID ${id.toString('base64')})`) && /ML-DSA keys are not supported/.test((e as Error).message),
  );
});

test('an RSA log key in PKCS#1 (PKCS1_RSA_PKCS1V5) loads, and its SPKI is what IDs and key hints are computed over', () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pkcs1 = publicKey.export({ format: 'der', type: 'pkcs1' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const logId = createHash('sha256').update(spki).digest();
  const r = parseTrustedRoot(withLog((l) => ({ ...l, logId: { keyId: logId.toString('base64') }, publicKey: { ...l.publicKey, rawBytes: pkcs1.toString('base64'), keyDetails: 'PKCS1_RSA_PKCS1V5' } })));
  assert.equal(r.unusable, undefined);
  const log = findLog(r, logId)!;
  assert.equal(log.publicKey.asymmetricKeyType, 'rsa');
  assert.ok(log.spkiDer.equals(spki));
  assert.deepEqual(findLogsByKeyHint(r, logId.subarray(0, 4)), [log]);
  // An SPKI is kept byte for byte as the root gives it.
  assert.ok(parseTrustedRoot(publicGoodRoot()).tlogs[0]!.spkiDer.equals(Buffer.from(PUBLIC_GOOD_TLOGS[0]!.publicKey.rawBytes, 'base64')));
});

test('a Rekor v2 log whose log ID is its 4-byte checkpoint key ID is usable', () => {
  const short = Buffer.from('a1b2c3d4', 'hex');
  const r = parseTrustedRoot(withLog((l) => ({ ...l, logId: { keyId: short.toString('base64') }, checkpointKeyId: { keyId: short.toString('base64') } })));
  assert.equal(r.unusable, undefined);
  assert.equal(findLog(r, short)?.baseUrl, 'https://rekor.sigstore.dev');
});
