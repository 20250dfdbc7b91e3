import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { isSignetError } from '../../src/errors.js';
import { publicKeyInfo } from '../../src/keys/index.js';
import { parseBundle } from '../../src/sigstore/bundle.js';
import { pae } from '../../src/sigstore/dsse.js';
import { hashedrekordV001, hashedRekordRequestV002, v1EntryToBundleEntry } from '../../src/sigstore/rekor-client.js';
import { checkBodyMatches, verifyBundleTlog, verifyRekorBundle, verifyTlogEntry, type SignedMaterial } from '../../src/sigstore/tlog.js';
import { parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { BUNDLE, PUBLIC_GOOD_TLOGS, publicGoodRoot } from './tlog-fixtures.js';

const root = parseTrustedRoot(publicGoodRoot());
const isTlog = (re: RegExp) => (e: unknown) => isSignetError(e, 'TLOG') && re.test((e as Error).message);

type Entry = Record<string, any>;
function bundleWith(mutate: (entry: Entry, doc: Entry) => void): ReturnType<typeof parseBundle> {
  const doc = JSON.parse(BUNDLE);
  mutate(doc.verificationMaterial.tlogEntries[0], doc);
  return parseBundle(Buffer.from(JSON.stringify(doc)));
}
const flipB64 = (s: string, at = 10): string => {
  const b = Buffer.from(s, 'base64');
  b[at] ^= 1;
  return b.toString('base64');
};

test('the real public-good bundle entry verifies: SET and inclusion proof + checkpoint', () => {
  const [v] = verifyBundleTlog(parseBundle(Buffer.from(BUNDLE)), {}, root);
  assert.equal(v!.logIndex, 175508996);
  assert.equal(v!.integratedTime, 1740770291);
  assert.equal(v!.log.baseUrl, 'https://rekor.sigstore.dev');
  assert.deepEqual(v!.checked, ['inclusionPromise', 'inclusionProof']);
  assert.equal(`${v!.kind} ${v!.version}`, 'dsse 0.0.1');
});

test('an entry for a different signature does not vouch for this one (CVE-2022-36056 style)', () => {
  const b = bundleWith((_e, doc) => {
    doc.dsseEnvelope.signatures[0].sig = flipB64(doc.dsseEnvelope.signatures[0].sig, 20);
  });
  assert.throws(() => verifyBundleTlog(b, {}, root), isTlog(/different signature/));
  const other = bundleWith((_e, doc) => {
    doc.dsseEnvelope.payload = Buffer.from('{"_type":"x"}').toString('base64');
  });
  assert.throws(() => verifyBundleTlog(other, {}, root), isTlog(/different payload/));
});

test('a body swapped for other bytes describing the same signature fails the log signatures', () => {
  const b = bundleWith((e) => {
    const body = JSON.parse(Buffer.from(e.canonicalizedBody, 'base64').toString());
    e.canonicalizedBody = Buffer.from(JSON.stringify(body, null, 1)).toString('base64');
  });
  assert.throws(() => verifyBundleTlog(b, {}, root), isTlog(/signed entry timestamp/));
  const noSet = bundleWith((e) => {
    const body = JSON.parse(Buffer.from(e.canonicalizedBody, 'base64').toString());
    e.canonicalizedBody = Buffer.from(JSON.stringify(body, null, 1)).toString('base64');
    delete e.inclusionPromise;
  });
  assert.throws(() => verifyBundleTlog(noSet, {}, root), isTlog(/inclusion proof .* does not verify/));
});

test('a key other than the signer\'s does not match the logged verifier', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const b = bundleWith((_e, doc) => {
    delete doc.verificationMaterial.certificate;
    doc.verificationMaterial.publicKey = { hint: '' };
  });
  assert.throws(() => verifyBundleTlog(b, { publicKeySpki: publicKey.export({ format: 'der', type: 'spki' }) }, root), isTlog(/different key or certificate/));
});

test('each tampered log statement fails for its own reason', () => {
  assert.throws(() => verifyBundleTlog(bundleWith((e) => (e.inclusionPromise.signedEntryTimestamp = flipB64(e.inclusionPromise.signedEntryTimestamp, 30))), {}, root), isTlog(/signed entry timestamp for log index 175508996 does not verify/));
  assert.throws(() => verifyBundleTlog(bundleWith((e) => (e.logIndex = '175508997')), {}, root), isTlog(/signed entry timestamp for log index 175508997/));
  assert.throws(() => verifyBundleTlog(bundleWith((e) => (e.integratedTime = '1740770292')), {}, root), isTlog(/signed entry timestamp/));
  assert.throws(() => verifyBundleTlog(bundleWith((e) => (e.inclusionProof.rootHash = flipB64(e.inclusionProof.rootHash, 0))), {}, root), isTlog(/inclusion proof .* does not verify/));
  assert.throws(() => verifyBundleTlog(bundleWith((e) => (e.inclusionProof.logIndex = '53604733')), {}, root), isTlog(/inclusion proof for leaf 53604733/));
  assert.throws(() => verifyBundleTlog(bundleWith((e) => e.inclusionProof.hashes.pop()), {}, root), isTlog(/inclusion proof|proof/));
  assert.throws(
    () => verifyBundleTlog(bundleWith((e) => (e.inclusionProof.checkpoint.envelope = e.inclusionProof.checkpoint.envelope.replace(/wNI9aj(.{8})/, (_m: string, g: string) => 'wNI9aj' + (g[0] === 'A' ? 'B' : 'A') + g.slice(1)))), {}, root),
    isTlog(/invalid signature by rekor.sigstore.dev/),
  );
  assert.throws(() => verifyBundleTlog(bundleWith((e) => delete e.inclusionProof.checkpoint), {}, root), isTlog(/no checkpoint/));
  assert.throws(() => verifyBundleTlog(bundleWith((e) => (e.kindVersion.kind = 'hashedrekord')), {}, root), isTlog(/kindVersion hashedrekord 0.0.1 does not match its body/));
  assert.throws(() => verifyBundleTlog(bundleWith((e) => { delete e.inclusionPromise; delete e.inclusionProof; }), {}, root), (e) => isSignetError(e, 'MALFORMED') || isSignetError(e, 'TLOG'));
});

test('a checkpoint from another tree size or root than the proof is refused', () => {
  // The checkpoint is signed and valid, but the proof claims a different tree: the entry is not covered by it.
  const b = bundleWith((e) => (e.inclusionProof.treeSize = '53604736'));
  assert.throws(() => verifyBundleTlog(b, {}, root), isTlog(/inclusion proof for leaf 53604734 in tree size 53604736/));
});

test('a log the trusted root does not list is refused', () => {
  const onlyV2 = parseTrustedRoot(publicGoodRoot(PUBLIC_GOOD_TLOGS.slice(1)));
  assert.throws(() => verifyBundleTlog(parseBundle(Buffer.from(BUNDLE)), {}, onlyV2), isTlog(/c0d23d6a.* which the trusted root does not list/));
});

test('the log key must be valid when the entry was integrated', () => {
  const later = PUBLIC_GOOD_TLOGS.map((l: any, i: number) => (i === 0 ? { ...l, publicKey: { ...l.publicKey, validFor: { start: '2025-03-01T00:00:00Z' } } } : l));
  assert.throws(() => verifyBundleTlog(parseBundle(Buffer.from(BUNDLE)), {}, parseTrustedRoot(publicGoodRoot(later))), isTlog(/outside the validity period/));
  const ended = PUBLIC_GOOD_TLOGS.map((l: any, i: number) => (i === 0 ? { ...l, publicKey: { ...l.publicKey, validFor: { start: '2021-01-12T11:53:27Z', end: '2025-01-01T00:00:00Z' } } } : l));
  assert.throws(() => verifyBundleTlog(parseBundle(Buffer.from(BUNDLE)), {}, parseTrustedRoot(publicGoodRoot(ended))), isTlog(/outside the validity period/));
  const fine = PUBLIC_GOOD_TLOGS.map((l: any, i: number) => (i === 0 ? { ...l, publicKey: { ...l.publicKey, validFor: { start: '2021-01-12T11:53:27Z', end: '2025-03-01T00:00:00Z' } } } : l));
  assert.equal(verifyBundleTlog(parseBundle(Buffer.from(BUNDLE)), {}, parseTrustedRoot(publicGoodRoot(fine))).length, 1);
});

test('at least one entry must verify; a bad extra entry does not spoil a good one', () => {
  const doc = JSON.parse(BUNDLE);
  const good = doc.verificationMaterial.tlogEntries[0];
  const bad = { ...good, logIndex: '1' };
  doc.verificationMaterial.tlogEntries = [bad, good];
  assert.equal(verifyBundleTlog(parseBundle(Buffer.from(JSON.stringify(doc))), {}, root).length, 1);
  doc.verificationMaterial.tlogEntries = [bad, bad];
  assert.throws(() => verifyBundleTlog(parseBundle(Buffer.from(JSON.stringify(doc))), {}, root), isTlog(/no transparency log entry verifies/));
  doc.verificationMaterial.tlogEntries = [];
  assert.throws(() => verifyBundleTlog(parseBundle(Buffer.from(JSON.stringify(doc))), {}, root), isTlog(/no transparency log entry/));
});

test('legacy dev.sigstore.cosign/bundle annotation: SET over the real entry, body bound to the signature', () => {
  const bundle = parseBundle(Buffer.from(BUNDLE));
  const e = bundle.tlogEntries[0]!;
  const annotation = JSON.stringify({
    SignedEntryTimestamp: e.inclusionPromise!.signedEntryTimestamp,
    Payload: { body: e.canonicalizedBody, integratedTime: 1740770291, logIndex: 175508996, logID: Buffer.from(e.logId.keyId!, 'base64').toString('hex') },
  });
  const c = bundle.content as Extract<typeof bundle.content, { kind: 'dsse' }>;
  const m: SignedMaterial = { signature: c.signature, certificate: (bundle.verificationMaterial as { certificate: Buffer }).certificate, content: { kind: 'dsse', payloadType: c.payloadType, payload: c.payload } };
  assert.equal(verifyRekorBundle(annotation, m, root).logIndex, 175508996);
  assert.throws(() => verifyRekorBundle(annotation.replace('"logIndex":175508996', '"logIndex":175508995'), m, root), isTlog(/signed entry timestamp/));
  assert.throws(() => verifyRekorBundle(annotation, { ...m, signature: Buffer.from(flipB64(c.signature.toString('base64'), 5), 'base64') }, root), isTlog(/different signature/));
  assert.throws(() => verifyRekorBundle(annotation.replace(/"logID":"c0/, '"logID":"c1'), m, root), isTlog(/trusted root does not list/));
  assert.throws(() => verifyRekorBundle('{"Payload":{}}', m, root), (err) => isSignetError(err, 'MALFORMED'));
  // The envelope bytes as cosign v2 logged them hash to the entry's envelopeHash; other bytes do not.
  assert.throws(() => verifyRekorBundle(annotation, { ...m, content: { ...m.content, envelopeBytes: Buffer.from('{}') } as SignedMaterial['content'] }, root), isTlog(/different envelope/));
});

test('hashedrekord 0.0.1 / 0.0.2 and dsse-as-hashedrekord bodies match only their own signature, digest and key', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const key = publicKeyInfo(publicKey);
  const data = Buffer.from('hello');
  const digest = createHash('sha256').update(data).digest();
  const signature = cryptoSign('sha256', data, privateKey);
  const m: SignedMaterial = { signature, publicKeySpki: key.spkiDer, content: { kind: 'digest', hashAlg: 'sha256', digest } };
  const v1 = hashedrekordV001({ hashAlg: 'sha256', digest, signature, verifierPem: key.pem });
  assert.deepEqual(checkBodyMatches(v1, m), { kind: 'hashedrekord', version: '0.0.1' });
  assert.throws(() => checkBodyMatches(v1, { ...m, publicKeySpki: other.export({ format: 'der', type: 'spki' }) }), isTlog(/different key/));
  assert.throws(() => checkBodyMatches(v1, { ...m, content: { kind: 'digest', hashAlg: 'sha256', digest: Buffer.alloc(32) } }), isTlog(/different artifact digest/));
  assert.throws(() => checkBodyMatches(v1, { ...m, content: { kind: 'digest', hashAlg: 'sha384', digest: Buffer.alloc(48) } }), isTlog(/different artifact digest/));
  assert.deepEqual(checkBodyMatches(v1, { ...m, content: { kind: 'bytes', data } }), { kind: 'hashedrekord', version: '0.0.1' });
  assert.throws(() => checkBodyMatches(v1, { ...m, content: { kind: 'bytes', data: Buffer.from('hellO') } }), isTlog(/different artifact digest/));

  const req = hashedRekordRequestV002({ digest, signature, key }).hashedRekordRequestV002 as any;
  const v2 = { apiVersion: '0.0.2', kind: 'hashedrekord', spec: { hashedRekordV002: { data: { algorithm: 'SHA2_256', digest: req.digest }, signature: req.signature } } };
  assert.deepEqual(checkBodyMatches(v2, m), { kind: 'hashedrekord', version: '0.0.2' });
  assert.throws(() => checkBodyMatches(v2, { ...m, signature: Buffer.from(signature).fill(1, 10, 11) }), isTlog(/different signature/));

  // DSSE logged in Rekor v2 as a hashedrekord over the PAE.
  const paeBytes = pae('application/vnd.in-toto+json', Buffer.from('{}'));
  const dsseSig = cryptoSign('sha256', paeBytes, privateKey);
  const dsseReq = hashedRekordRequestV002({ digest: createHash('sha256').update(paeBytes).digest(), signature: dsseSig, key }).hashedRekordRequestV002 as any;
  const dsseBody = { apiVersion: '0.0.2', kind: 'hashedrekord', spec: { hashedRekordV002: { data: { algorithm: 'SHA2_256', digest: dsseReq.digest }, signature: dsseReq.signature } } };
  const dm: SignedMaterial = { signature: dsseSig, publicKeySpki: key.spkiDer, content: { kind: 'dsse', payloadType: 'application/vnd.in-toto+json', payload: Buffer.from('{}') } };
  assert.deepEqual(checkBodyMatches(dsseBody, dm), { kind: 'hashedrekord', version: '0.0.2' });
  assert.throws(() => checkBodyMatches(dsseBody, { ...dm, content: { ...dm.content, payload: Buffer.from('{ }') } as SignedMaterial['content'] }), isTlog(/different artifact digest/));
  assert.throws(() => checkBodyMatches({ kind: 'rekord', apiVersion: '0.0.1', spec: {} }, m), isTlog(/not supported/));
});

test('a v1 LogEntry converts to the bundle entry Rekor itself would produce', () => {
  const e = parseBundle(Buffer.from(BUNDLE)).tlogEntries[0]!;
  const p = e.inclusionProof!;
  const v1 = {
    uuid: '24296fb24b8ad77a' + '0'.repeat(64),
    body: e.canonicalizedBody,
    integratedTime: 1740770291,
    logID: Buffer.from(e.logId.keyId!, 'base64').toString('hex'),
    logIndex: 175508996,
    verification: {
      signedEntryTimestamp: e.inclusionPromise!.signedEntryTimestamp!,
      inclusionProof: { checkpoint: p.checkpoint!.envelope!, hashes: p.hashes!.map((h) => Buffer.from(h, 'base64').toString('hex')), logIndex: 53604734, rootHash: Buffer.from(p.rootHash!, 'base64').toString('hex'), treeSize: 53604735 },
    },
  };
  const converted = v1EntryToBundleEntry(v1);
  assert.deepEqual(converted, e);
  const bundle = parseBundle(Buffer.from(BUNDLE));
  const c = bundle.content as Extract<typeof bundle.content, { kind: 'dsse' }>;
  assert.equal(verifyTlogEntry(converted, { signature: c.signature, certificate: (bundle.verificationMaterial as { certificate: Buffer }).certificate, content: { kind: 'dsse', payloadType: c.payloadType, payload: c.payload } }, root).logIndex, 175508996);
});
