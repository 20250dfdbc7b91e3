import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
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

test('malformed trusted roots are refused, naming the field', () => {
  assert.throws(() => parseTrustedRoot('not json'), malformed(/not valid JSON/));
  assert.throws(() => parseTrustedRoot('[]'), malformed(/document is not an object/));
  assert.throws(() => parseTrustedRoot(publicGoodRoot().replace('version=0.1', 'version=9')), malformed(/media type/));
  assert.throws(() => parseTrustedRoot(JSON.stringify({ ...JSON.parse(publicGoodRoot()), extra: 1 })), malformed(/unknown field "extra"/));
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, publicKey: { ...l.publicKey, rawBytes: 'AAAA' } }))), malformed(/tlogs\[0\].publicKey.rawBytes is not a DER/));
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, publicKey: { ...l.publicKey, rawBytes: 'not base64!' } }))), malformed(/base64/));
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, publicKey: { ...l.publicKey, keyDetails: 'PKIX_ED25519' } }))), malformed(/keyDetails says PKIX_ED25519/));
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, publicKey: { ...l.publicKey, keyDetails: 'NOPE' } }))), malformed(/not a supported log key type/));
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, publicKey: { ...l.publicKey, validFor: { start: 'yesterday' } } }))), malformed(/validFor.start is not an RFC 3339/));
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, publicKey: { ...l.publicKey, validFor: { start: '2022-01-01T00:00:00Z', end: '2021-01-01T00:00:00Z' } } }))), malformed(/ends before it starts/));
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, logId: { keyId: 'AAAA' } }))), malformed(/3 bytes, expected 32/));
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, hashAlgorithm: 'MD5' }))), malformed(/hash algorithm/));
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, baseUrl: '' }))), malformed(/baseUrl/));
  assert.throws(() => parseTrustedRoot(publicGoodRoot([PUBLIC_GOOD_TLOGS[0], PUBLIC_GOOD_TLOGS[0]])), malformed(/twice/));
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  assert.throws(() => parseTrustedRoot(withLog((l) => ({ ...l, publicKey: { ...l.publicKey, rawBytes: p384 } }))), malformed(/keyDetails says PKIX_ECDSA_P256_SHA_256/));
});
