import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isSignetError } from '../../src/errors.js';
import { generateKeyPair, publicKeyInfo, signerFromPrivateKey, type KeyKind, type LocalSigner } from '../../src/keys/index.js';
import {
  buildDsseBundle,
  buildImageStatement,
  buildMessageSignatureBundle,
  checkTlogPolicy,
  decodeSignatureInput,
  IN_TOTO_PAYLOAD_TYPE,
  parseBundle,
  parseLegacyBlobBundle,
  signDsse,
  verifyArtifactSignature,
  verifyBundleWithKey,
  type HashAlg,
} from '../../src/sigstore/index.js';

const fails = (re: RegExp) => (e: unknown) => isSignetError(e, 'VERIFICATION') && re.test((e as Error).message);

const signers = new Map<KeyKind, LocalSigner>();
function signerFor(kind: KeyKind): LocalSigner {
  if (!signers.has(kind)) signers.set(kind, signerFromPrivateKey(generateKeyPair(kind, { rsaBits: 2048 }).privateKey));
  return signers.get(kind)!;
}
const other = publicKeyInfo(generateKeyPair('ecdsa-p256').publicKey);

function signBlob(s: LocalSigner, data: Buffer): Buffer {
  const hashAlg: HashAlg = s.publicKey.hash ?? 'sha512';
  return buildMessageSignatureBundle({ digest: createHash(hashAlg).update(data).digest(), hashAlg, signature: s.sign(data), publicKeyHint: s.publicKey.hint });
}

const data = Buffer.from('the artifact\n');

describe('message-signature bundles with a key', () => {
  for (const kind of ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa', 'ed25519'] as KeyKind[]) {
    test(`${kind}: verifies with the right key over the bytes`, () => {
      const s = signerFor(kind);
      const r = verifyBundleWithKey(parseBundle(signBlob(s, data)), s.publicKey, { bytes: data });
      assert.deepEqual(r, { kind: 'messageSignature', warnings: [] });
    });
  }

  for (const kind of ['ecdsa-p256', 'ecdsa-p384', 'ecdsa-p521', 'rsa'] as KeyKind[]) {
    test(`${kind}: verifies from the digest alone`, () => {
      const s = signerFor(kind);
      const alg = s.publicKey.hash!;
      const b = parseBundle(signBlob(s, data));
      verifyBundleWithKey(b, s.publicKey, { digest: createHash(alg).update(data).digest(), hashAlg: alg });
      verifyBundleWithKey(b, s.publicKey, { digests: { [alg]: createHash(alg).update(data).digest() } });
      assert.throws(() => verifyBundleWithKey(b, s.publicKey, { digest: createHash(alg).update('x').digest(), hashAlg: alg }), fails(/artifact digest does not match the bundle/));
    });
  }

  test('a digest in another algorithm than the bundle records is refused clearly', () => {
    const s = signerFor('ecdsa-p384');
    const b = parseBundle(signBlob(s, data));
    assert.throws(() => verifyBundleWithKey(b, s.publicKey, { digest: createHash('sha256').update(data).digest(), hashAlg: 'sha256' }), fails(/records a SHA2_384 digest, but only a sha256/));
  });

  test('Ed25519 cannot verify from a digest', () => {
    const s = signerFor('ed25519');
    const b = parseBundle(signBlob(s, data));
    assert.throws(() => verifyBundleWithKey(b, s.publicKey, { digest: createHash('sha512').update(data).digest(), hashAlg: 'sha512' }), fails(/Ed25519 signature covers the whole artifact/));
  });

  test('the wrong key fails', () => {
    const s = signerFor('ecdsa-p256');
    const b = parseBundle(signBlob(s, data));
    assert.throws(() => verifyBundleWithKey(b, other, { bytes: data }), fails(/signature does not verify with the given key/));
    assert.throws(() => verifyBundleWithKey(b, other, { digest: createHash('sha256').update(data).digest(), hashAlg: 'sha256' }), fails(/signature does not verify/));
    // A key of another type must fail the same way, not throw something else.
    assert.throws(() => verifyBundleWithKey(b, signerFor('rsa').publicKey, { bytes: data }), fails(/signature does not verify/));
  });

  test('a tampered artifact fails on the digest', () => {
    const s = signerFor('ecdsa-p256');
    const b = parseBundle(signBlob(s, data));
    assert.throws(() => verifyBundleWithKey(b, s.publicKey, { bytes: Buffer.from('the artifact!\n') }), fails(/artifact digest does not match the bundle/));
  });

  test('a bundle whose digest was swapped for the tampered artifact still fails on the signature', () => {
    const s = signerFor('ecdsa-p256');
    const doc = JSON.parse(signBlob(s, data).toString());
    const evil = Buffer.from('evil');
    doc.messageSignature.messageDigest.digest = createHash('sha256').update(evil).digest('base64');
    const b = parseBundle(Buffer.from(JSON.stringify(doc)));
    assert.throws(() => verifyBundleWithKey(b, s.publicKey, { bytes: evil }), fails(/signature does not verify/));
    assert.throws(() => verifyBundleWithKey(b, s.publicKey, { bytes: data }), fails(/artifact digest does not match/));
  });

  test('every flipped signature byte fails', () => {
    const s = signerFor('ecdsa-p256');
    const doc = JSON.parse(signBlob(s, data).toString());
    const sig = Buffer.from(doc.messageSignature.signature, 'base64');
    for (let i = 0; i < sig.length; i++) {
      const bad = Buffer.from(sig);
      bad[i]! ^= 0x01;
      doc.messageSignature.signature = bad.toString('base64');
      const b = parseBundle(Buffer.from(JSON.stringify(doc)));
      assert.throws(() => verifyBundleWithKey(b, s.publicKey, { bytes: data }), fails(/signature does not verify/), `byte ${i}`);
      assert.throws(() => verifyBundleWithKey(b, s.publicKey, { digest: createHash('sha256').update(data).digest(), hashAlg: 'sha256' }), fails(/signature does not verify/), `byte ${i} (digest)`);
    }
  });

  test('a hint mismatch is a warning, not a failure', () => {
    const s = signerFor('ecdsa-p256');
    const doc = JSON.parse(signBlob(s, data).toString());
    doc.verificationMaterial.publicKey.hint = 'c29tZW90aGVya2V5';
    const r = verifyBundleWithKey(parseBundle(Buffer.from(JSON.stringify(doc))), s.publicKey, { bytes: data });
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /key hint c29tZW90aGVya2V5 does not match/);
  });

  test('a message signature needs the artifact', () => {
    const s = signerFor('ecdsa-p256');
    assert.throws(() => verifyBundleWithKey(parseBundle(signBlob(s, data)), s.publicKey), (e) => isSignetError(e, 'USAGE'));
  });
});

describe('DSSE bundles with a key', () => {
  const s = signerFor('ecdsa-p256');
  const hex = createHash('sha256').update(data).digest('hex');
  const statement = buildImageStatement(hex, { a: 'b' });
  const bundle = parseBundle(buildDsseBundle({ envelope: signDsse(s, IN_TOTO_PAYLOAD_TYPE, statement), publicKeyHint: s.publicKey.hint }));

  test('verifies and returns the exact payload and statement', () => {
    const r = verifyBundleWithKey(bundle, s.publicKey, { digest: Buffer.from(hex, 'hex'), hashAlg: 'sha256' });
    assert.equal(r.kind, 'dsse');
    assert.deepEqual(r.payload, statement);
    assert.equal(r.payloadType, IN_TOTO_PAYLOAD_TYPE);
    assert.equal(r.statement?.subject[0]?.annotations?.a, 'b');
    verifyBundleWithKey(bundle, s.publicKey, { bytes: data });
    verifyBundleWithKey(bundle, s.publicKey);
  });

  test('the wrong subject fails', () => {
    assert.throws(() => verifyBundleWithKey(bundle, s.publicKey, { digest: Buffer.alloc(32, 7), hashAlg: 'sha256' }), fails(/does not match any subject/));
    assert.throws(() => verifyBundleWithKey(bundle, s.publicKey, { bytes: Buffer.from('x') }), fails(/does not match any subject/));
  });

  test('the wrong key fails', () => {
    assert.throws(() => verifyBundleWithKey(bundle, other, { bytes: data }), fails(/signature does not verify/));
  });

  test('a changed payload type breaks the PAE signature', () => {
    const doc = JSON.parse(bundle.raw.toString());
    doc.dsseEnvelope.payloadType = 'application/json';
    assert.throws(() => verifyBundleWithKey(parseBundle(Buffer.from(JSON.stringify(doc))), s.publicKey), fails(/signature does not verify/));
  });

  test('a payload that is not in-toto cannot be bound to an artifact', () => {
    const b = parseBundle(buildDsseBundle({ envelope: signDsse(s, 'text/plain', Buffer.from('hi')), publicKeyHint: s.publicKey.hint }));
    assert.equal(verifyBundleWithKey(b, s.publicKey).payload?.toString(), 'hi');
    assert.throws(() => verifyBundleWithKey(b, s.publicKey, { bytes: data }), fails(/not an in-toto statement/));
  });

  test('a signed payload that claims in-toto but is not a statement is MALFORMED', () => {
    const b = parseBundle(buildDsseBundle({ envelope: signDsse(s, IN_TOTO_PAYLOAD_TYPE, Buffer.from('nope')), publicKeyHint: '' }));
    assert.throws(() => verifyBundleWithKey(b, s.publicKey, { bytes: data }), (e) => isSignetError(e, 'MALFORMED'));
  });
});

describe('legacy blob formats', () => {
  const s = signerFor('ecdsa-p256');
  const sig = s.sign(data);

  test('a raw signature over the artifact', () => {
    verifyArtifactSignature(s.publicKey, { bytes: data }, sig);
    verifyArtifactSignature(s.publicKey, { digest: createHash('sha256').update(data).digest(), hashAlg: 'sha256' }, sig);
    assert.throws(() => verifyArtifactSignature(other, { bytes: data }, sig), fails(/does not verify/));
    assert.throws(() => verifyArtifactSignature(s.publicKey, { bytes: Buffer.from('x') }, sig), fails(/does not verify/));
  });

  test('signature input: base64 text (with newline) or raw bytes', () => {
    assert.deepEqual(decodeSignatureInput(Buffer.from(sig.toString('base64') + '\n')), sig);
    assert.deepEqual(decodeSignatureInput(sig), sig);
    assert.throws(() => decodeSignatureInput(Buffer.alloc(0)), (e) => isSignetError(e, 'MALFORMED'));
  });

  test('the legacy bundle: cert as base64 PEM or raw PEM, rekorBundle kept', () => {
    const pemB64 = Buffer.from(s.publicKey.pem).toString('base64');
    const a = parseLegacyBlobBundle({ base64Signature: sig.toString('base64'), cert: pemB64 });
    assert.deepEqual(a.signature, sig);
    assert.equal(a.certPem, s.publicKey.pem);
    const b = parseLegacyBlobBundle({ base64Signature: sig.toString('base64'), cert: s.publicKey.pem, rekorBundle: { SignedEntryTimestamp: 'x', Payload: {} } });
    assert.equal(b.certPem, s.publicKey.pem.trim());
    assert.deepEqual(b.rekorBundle, { SignedEntryTimestamp: 'x', Payload: {} });
    assert.throws(() => parseLegacyBlobBundle({}), /no base64Signature/);
    assert.throws(() => parseLegacyBlobBundle({ base64Signature: '%%' }), /not valid base64/);
    assert.throws(() => parseLegacyBlobBundle({ base64Signature: 'AA==', cert: 'aGVsbG8=' }), /neither PEM nor base64 of PEM/);
  });
});

describe('transparency-log policy until a log is wired in', () => {
  test('ignoring the log is the only way through', () => {
    checkTlogPolicy({ ignoreTlog: true, entries: 0, logConfigured: false });
    checkTlogPolicy({ ignoreTlog: true, entries: 2, logConfigured: false });
    assert.throws(() => checkTlogPolicy({ ignoreTlog: false, entries: 0, logConfigured: false }), (e) => isSignetError(e, 'TLOG') && /no transparency log entry to verify; pass --insecure-ignore-tlog/.test((e as Error).message));
    assert.throws(() => checkTlogPolicy({ ignoreTlog: false, entries: 1, logConfigured: false }), (e) => isSignetError(e, 'TLOG'));
  });
});
