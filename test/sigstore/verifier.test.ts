/**
 * The verification engine: keyless on the public-good bundle (each check failing for its own reason),
 * key-based bundles made here, and the usage errors.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { isSignetError } from '../../src/errors.js';
import { generateKeyPair, signerFromPrivateKey } from '../../src/keys/index.js';
import { buildDsseBundle, buildMessageSignatureBundle, parseBundle } from '../../src/sigstore/bundle.js';
import { signDsse } from '../../src/sigstore/dsse.js';
import { parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { prepareTrust, verifyBundle, verifyBundleWithKeyEngine } from '../../src/sigstore/verifier.js';
import { readFixture } from './certificate-fixtures.js';

const root = parseTrustedRoot(readFixture('trusted_root.json'));
const trust = prepareTrust(root);
const cosignBytes = readFixture('cosign-oci-attestation.sigstore.json');
const ID = { identity: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' };
const SUBJECT = '732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4';

function code(fn: () => unknown, c: string, msg?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isSignetError(e), String(e));
    assert.equal(e.code, c, e.message);
    if (msg) assert.match(e.message, msg);
    return true;
  });
}

describe('verifyBundle: keyless (public-good bundle)', () => {
  it('verifies chain, SCT, log entry, DSSE signature and identity; reports what it verified', () => {
    const r = verifyBundle(parseBundle(cosignBytes), { digest: Buffer.from(SUBJECT, 'hex'), hashAlg: 'sha256' }, trust, { identity: ID });
    assert.equal(r.kind, 'dsse');
    assert.equal(r.tlogEntries, 1);
    assert.deepEqual(r.timestamps, [{ source: 'tlog', time: new Date('2025-02-28T19:18:11Z') }]);
    assert.equal(r.identity?.issuer, ID.issuer);
    assert.equal(prepareTrust(root), trust, 'trust material is cached per root');
  });

  it('each failure names its check', () => {
    const b = parseBundle(cosignBytes);
    code(() => verifyBundle(b, undefined, trust, { identity: { ...ID, identity: 'someone@else' } }), 'VERIFICATION', /^identity policy: /);
    code(() => verifyBundle(b, undefined, trust, { identity: { ...ID, issuer: 'https://accounts.google.com' } }), 'VERIFICATION', /^identity policy: .*issuer/);
    code(() => verifyBundle(b, { digest: Buffer.alloc(32), hashAlg: 'sha256' }, trust, { identity: ID }), 'VERIFICATION', /^in-toto subject: /);
    code(() => verifyBundle(b, undefined, trust, { identity: ID, ctlogThreshold: 2 }), 'VERIFICATION', /^SCT: /);
    code(() => verifyBundle(b, undefined, trust, { identity: ID, tsaThreshold: 1 }), 'VERIFICATION', /^timestamps: 0 RFC 3161/);
    code(() => verifyBundle(b, undefined, trust, { identity: ID, tlogThreshold: 2 }), 'TLOG', /1 entries verified, 2 required/);
    const noLogs = prepareTrust({ ...root, tlogs: [] });
    code(() => verifyBundle(b, undefined, noLogs, { identity: ID }), 'TLOG', /^transparency log entry: .*does not list/);
    const noCas = prepareTrust({ ...root, certificateAuthorities: [] });
    code(() => verifyBundle(b, undefined, noCas, { identity: ID }), 'VERIFICATION', /^certificate chain: /);
  });

  it('ignoring the log checks the certificate "now" (expired) and ignores the entry', () => {
    const b = parseBundle(cosignBytes);
    code(() => verifyBundle(b, undefined, trust, { identity: ID, ignoreTlog: true }), 'VERIFICATION', /^certificate chain: .*not valid at/);
    const r = verifyBundle(b, undefined, trust, { identity: ID, ignoreTlog: true, now: new Date('2025-02-28T19:20:00Z') });
    assert.equal(r.tlogEntries, 0);
    assert.deepEqual(r.timestamps, []);
  });

  it('usage errors come before any work', () => {
    const b = parseBundle(cosignBytes);
    code(() => verifyBundle(b, undefined, trust, {}), 'USAGE', /identity policy/);
    code(() => verifyBundle(b, undefined, trust, { identity: { identity: ID.identity } }), 'USAGE');
    code(() => verifyBundle(b, undefined, trust, { identity: ID, ignoreTlog: true, tlogThreshold: 1 }), 'USAGE');
    code(() => verifyBundle(b, undefined, trust, { identity: ID, tlogThreshold: -1 }), 'USAGE');
  });
});

describe('verifyBundle: key-based bundles', () => {
  const signer = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
  const other = signerFromPrivateKey(generateKeyPair('ecdsa-p256').privateKey);
  const data = Buffer.from('artifact bytes');
  const digest = createHash('sha256').update(data).digest();
  const msg = parseBundle(buildMessageSignatureBundle({ digest, hashAlg: 'sha256', signature: signer.sign(data), publicKeyHint: signer.publicKey.hint }));

  it('message signature: bytes or digest; the log is required unless ignored', () => {
    for (const a of [{ bytes: data }, { digest, hashAlg: 'sha256' as const }]) {
      const r = verifyBundle(msg, a, trust, { key: signer.publicKey, ignoreTlog: true });
      assert.equal(r.kind, 'messageSignature');
      assert.deepEqual(r.warnings, []);
    }
    code(() => verifyBundle(msg, { bytes: data }, trust, { key: signer.publicKey }), 'TLOG', /no transparency log entry/);
    code(() => verifyBundle(msg, { bytes: Buffer.from('other') }, trust, { key: signer.publicKey, ignoreTlog: true }), 'VERIFICATION', /^artifact: /);
    code(() => verifyBundle(msg, { bytes: data }, trust, { key: other.publicKey, ignoreTlog: true }), 'VERIFICATION', /^artifact signature: /);
    code(() => verifyBundle(msg, { digest: createHash('sha512').update(data).digest(), hashAlg: 'sha512' }, trust, { key: signer.publicKey, ignoreTlog: true }), 'VERIFICATION', /SHA2_256 digest/);
    code(() => verifyBundle(msg, undefined, trust, { key: signer.publicKey, ignoreTlog: true }), 'USAGE');
    code(() => verifyBundle(msg, { bytes: data }, trust, { ignoreTlog: true }), 'USAGE', /public key/);
  });

  it('a mismatching key hint is a warning; the signature decides', () => {
    const r = verifyBundleWithKeyEngine(msg, signer.publicKey, { bytes: data });
    assert.deepEqual(r.warnings, []);
    const wrongHint = parseBundle(buildMessageSignatureBundle({ digest, hashAlg: 'sha256', signature: signer.sign(data), publicKeyHint: other.publicKey.hint }));
    assert.match(verifyBundleWithKeyEngine(wrongHint, signer.publicKey, { bytes: data }).warnings[0]!, /hint/);
  });

  it('DSSE: PAE signature and the artifact among the subjects', () => {
    const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: digest.toString('hex') } }], predicateType: 'https://example.com/p', predicate: {} }));
    const env = signDsse(signer, 'application/vnd.in-toto+json', statement);
    const b = parseBundle(buildDsseBundle({ envelope: env, publicKeyHint: signer.publicKey.hint }));
    const r = verifyBundle(b, { bytes: data }, trust, { key: signer.publicKey, ignoreTlog: true });
    assert.equal(r.kind, 'dsse');
    assert.ok(r.statement);
    code(() => verifyBundle(b, { bytes: Buffer.from('x') }, trust, { key: signer.publicKey, ignoreTlog: true }), 'VERIFICATION', /^in-toto subject: /);
    code(() => verifyBundle(b, undefined, trust, { key: other.publicKey, ignoreTlog: true }), 'VERIFICATION', /^DSSE signature: /);
  });

  it('a key given for a certificate bundle must be the certificate key', () => {
    code(() => verifyBundle(parseBundle(cosignBytes), undefined, trust, { key: signer.publicKey }), 'VERIFICATION', /^key: /);
  });
});
