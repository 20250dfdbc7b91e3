import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isSignetError } from '../../src/errors.js';
import { generateKeyPair, parsePublicKey, signerFromPrivateKey, verifySignature } from '../../src/keys/index.js';
import {
  buildDsseBundle,
  envelopeToJSON,
  IN_TOTO_PAYLOAD_TYPE,
  pae,
  parseBundle,
  parseEnvelope,
  signDsse,
  verifyBundleWithKey,
} from '../../src/sigstore/index.js';
import * as fx from './fixtures.js';

const malformed = (e: unknown) => isSignetError(e, 'MALFORMED');
const verification = (e: unknown) => isSignetError(e, 'VERIFICATION');

describe('DSSE pre-authentication encoding', () => {
  test('the DSSE spec example', () => {
    assert.equal(
      pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString('latin1'),
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });
  test('empty type and payload', () => {
    assert.equal(pae('', Buffer.alloc(0)).toString('latin1'), 'DSSEv1 0  0 ');
  });
  test('lengths count UTF-8 bytes, and binary payloads are kept byte for byte', () => {
    const payload = Buffer.from([0, 255, 10, 32, 0xc3]);
    const out = pae('tÿpe', payload);
    assert.deepEqual(out, Buffer.concat([Buffer.from('DSSEv1 5 tÿpe 5 ', 'utf8'), payload]));
  });
  test('in-toto payload type', () => {
    assert.equal(pae(IN_TOTO_PAYLOAD_TYPE, Buffer.from('{}')).toString(), 'DSSEv1 28 application/vnd.in-toto+json 2 {}');
  });
});

describe('DSSE envelopes', () => {
  const { privateKey } = generateKeyPair('ecdsa-p256');
  const signer = signerFromPrivateKey(privateKey);

  test('sign, serialise the securesystemslib way, parse back, verify over the PAE', () => {
    const payload = Buffer.from('{"a":1}');
    const env = signDsse(signer, IN_TOTO_PAYLOAD_TYPE, payload);
    const json = envelopeToJSON(env);
    assert.match(json.toString(), /^\{"payloadType":"application\/vnd.in-toto\+json","payload":"eyJhIjoxfQ==","signatures":\[\{"keyid":"","sig":"/);
    const back = parseEnvelope(json);
    assert.deepEqual(back.payload, payload);
    assert.equal(back.signatures[0]!.keyid, '');
    assert.ok(verifySignature(signer.publicKey, pae(back.payloadType, back.payload), back.signatures[0]!.sig));
    assert.ok(!verifySignature(signer.publicKey, payload, back.signatures[0]!.sig), 'the signature is over the PAE, not the payload');
  });

  test('rejects envelopes that are not envelopes', () => {
    assert.throws(() => parseEnvelope(Buffer.from('nope')), malformed);
    assert.throws(() => parseEnvelope(Buffer.from('[]')), malformed);
    assert.throws(() => parseEnvelope(Buffer.from('{"payloadType":"x","payload":"e30=","signatures":[]}')), /no signatures/);
    assert.throws(() => parseEnvelope(Buffer.from('{"payloadType":"x","payload":"e","signatures":[{"sig":"AA=="}]}')), /payload is not valid base64/);
    assert.throws(() => parseEnvelope(Buffer.from('{"payloadType":"x","payload":"e30=","signatures":[{"sig":"A!=="}]}')), /not valid base64/);
    assert.throws(() => parseEnvelope(Buffer.from('{"payload":"e30=","signatures":[{"sig":"AA=="}]}')), /no payloadType/);
    assert.throws(() => parseEnvelope(Buffer.from('{"payloadType":"x","payload":"e30=","signatures":[{"sig":""}]}')), /is empty/);
  });
});

describe("cosign's DSSE test vectors (verify-blob-attestation)", () => {
  const key = parsePublicKey(fx.cosignPubkey);
  const blob = Buffer.from(fx.blobContents);
  const bundleOf = (b64: string) => parseBundle(buildDsseBundle({ envelope: parseEnvelope(Buffer.from(b64, 'base64')), publicKeyHint: '' }));

  test('the SLSA provenance envelope verifies for the blob and its digest', () => {
    const r = verifyBundleWithKey(bundleOf(fx.blobSLSAProvenanceSignature), key, { bytes: blob });
    assert.equal(r.kind, 'dsse');
    assert.equal(r.statement?.predicateType, 'https://slsa.dev/provenance/v0.2');
    verifyBundleWithKey(bundleOf(fx.blobSLSAProvenanceSignature), key, { digest: Buffer.from(fx.blobSha256, 'hex'), hashAlg: 'sha256' });
  });
  test('another blob does not match the subject', () => {
    assert.throws(() => verifyBundleWithKey(bundleOf(fx.blobSLSAProvenanceSignature), key, { bytes: Buffer.from('another-blob') }), /does not match any subject/);
  });
  test('multiple subjects: one matching is enough; none matching fails', () => {
    verifyBundleWithKey(bundleOf(fx.dssePredicateMultipleSubjects), key, { bytes: blob });
    assert.throws(() => verifyBundleWithKey(bundleOf(fx.dssePredicateMultipleSubjectsInvalid), key, { bytes: blob }), verification);
  });
  test('empty subject list and subject without sha256 fail', () => {
    assert.throws(() => verifyBundleWithKey(bundleOf(fx.dssePredicateEmptySubject), key, { bytes: blob }), /no subjects/);
    assert.throws(() => verifyBundleWithKey(bundleOf(fx.dssePredicateMissingSha256), key, { bytes: blob }), /does not match any subject/);
  });
  test('a bad signature fails', () => {
    const env = parseEnvelope(Buffer.from(fx.blobSLSAProvenanceSignature, 'base64'));
    env.signatures[0]!.sig = Buffer.from('something\n');
    assert.throws(
      () => verifyBundleWithKey(parseBundle(buildDsseBundle({ envelope: env, publicKeyHint: '' })), key, { bytes: blob }),
      /signature does not verify with the given key/,
    );
  });
});
