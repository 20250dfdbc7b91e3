/**
 * Differential tests against sigstore-js: @sigstore/verify must accept the bundles Signet writes (and
 * reject the same tampered ones), and Signet must verify what @sigstore/sign writes with a key.
 * All offline: a trusted root with no logs, thresholds 0, and a key finder for the public key.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, type KeyObject } from 'node:crypto';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, type Signer as SjsSigner } from '@sigstore/sign';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import { generateKeyPair, signerFromPrivateKey, type Signer } from '../../src/keys/index.js';
import {
  buildDsseBundle,
  buildImageStatement,
  buildMessageSignatureBundle,
  IN_TOTO_PAYLOAD_TYPE,
  parseBundle,
  signDsse,
  verifyBundleWithKey,
} from '../../src/sigstore/index.js';

const EMPTY_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
} as unknown as TrustedRoot;

/** sigstore-js verdict for a bundle (bytes as written) over an artifact, trusting exactly `key`. */
function sjsVerify(bundleBytes: Buffer, artifact: Buffer | undefined, key: KeyObject): boolean {
  const trust = toTrustMaterial(EMPTY_ROOT, () => ({ publicKey: key, validFor: () => true }));
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  try {
    verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(bundleBytes.toString())), artifact));
    return true;
  } catch {
    return false;
  }
}

function signetVerify(bundleBytes: Buffer, artifact: Buffer | undefined, s: Signer): boolean {
  try {
    verifyBundleWithKey(parseBundle(bundleBytes), s.publicKey, artifact ? { bytes: artifact } : undefined);
    return true;
  } catch {
    return false;
  }
}

const signer = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
const otherKey = generateKeyPair('ecdsa-p256').publicKey;
const data = Buffer.from('interop artifact');

function ourMessageBundle(): Buffer {
  return buildMessageSignatureBundle({
    digest: createHash('sha256').update(data).digest(),
    hashAlg: 'sha256',
    signature: signer.sign(data),
    publicKeyHint: signer.publicKey.hint,
  });
}

describe('sigstore-js verifies what Signet writes', () => {
  test('message-signature bundle: valid, wrong artifact, wrong key', () => {
    const b = ourMessageBundle();
    assert.equal(sjsVerify(b, data, signer.publicKey.key), true);
    assert.equal(sjsVerify(b, Buffer.from('other'), signer.publicKey.key), false);
    assert.equal(sjsVerify(b, data, otherKey), false);
  });

  test('DSSE bundle with an image statement', () => {
    const st = buildImageStatement(createHash('sha256').update(data).digest('hex'), { k: 'v' });
    const b = buildDsseBundle({ envelope: signDsse(signer, IN_TOTO_PAYLOAD_TYPE, st), publicKeyHint: signer.publicKey.hint });
    assert.equal(sjsVerify(b, undefined, signer.publicKey.key), true);
    assert.equal(sjsVerify(b, undefined, otherKey), false);
  });

  test('same verdict as Signet for every single-byte change of the signature', () => {
    const b = ourMessageBundle();
    const doc = JSON.parse(b.toString());
    const sig = Buffer.from(doc.messageSignature.signature, 'base64');
    for (let i = 0; i < sig.length; i++) {
      const bad = Buffer.from(sig);
      bad[i]! ^= 0x80;
      doc.messageSignature.signature = bad.toString('base64');
      const mutated = Buffer.from(JSON.stringify(doc));
      assert.equal(signetVerify(mutated, data, signer), sjsVerify(mutated, data, signer.publicKey.key), `byte ${i}`);
      assert.equal(signetVerify(mutated, data, signer), false);
    }
  });
});

describe('Signet verifies what sigstore-js writes with a key', () => {
  // @sigstore/sign accepts any Signer: ours, wrapped. No witnesses means no log and no TSA: fully offline.
  const sjsSigner: SjsSigner = {
    sign: async (d: Buffer) => ({
      signature: signer.sign(d),
      key: { $case: 'publicKey', publicKey: signer.publicKey.pem, hint: signer.publicKey.hint },
    }),
  };

  test('message-signature bundle (sigstore-js writes media type v0.2 for these)', async () => {
    const bundle = await new MessageSignatureBundleBuilder({ signer: sjsSigner, witnesses: [] }).create({ data });
    const bytes = Buffer.from(JSON.stringify(bundleToJSON(bundle)));
    const p = parseBundle(bytes);
    assert.equal(p.version, '0.2');
    assert.deepEqual(verifyBundleWithKey(p, signer.publicKey, { bytes: data }).warnings, []);
    assert.equal(signetVerify(bytes, Buffer.from('x'), signer), false);
  });

  test('DSSE bundle (sigstore-js sets keyid to the hint)', async () => {
    const st = buildImageStatement(createHash('sha256').update(data).digest('hex'));
    const bundle = await new DSSEBundleBuilder({ signer: sjsSigner, witnesses: [] }).create({ data: st, type: IN_TOTO_PAYLOAD_TYPE });
    const bytes = Buffer.from(JSON.stringify(bundleToJSON(bundle)));
    const r = verifyBundleWithKey(parseBundle(bytes), signer.publicKey, { bytes: data });
    assert.deepEqual(r.payload, st);
    assert.equal(signetVerify(bytes, Buffer.from('x'), signer), false);
  });
});
