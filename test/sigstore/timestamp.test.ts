/**
 * Client-side RFC 3161: requestTimestamp against the real TSA service on loopback, and
 * verifyTimestamp accepting exactly the timestamps it should, refusing each defect for its reason.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnSerializer } from '@peculiar/asn1-schema';
import { PKIFreeText, PKIStatus, PKIStatusInfo, TimeStampResp } from '@peculiar/asn1-tsp';
import { createTsa, type Tsa } from '../../src/server/tsa/index.js';
import { verifyTimestamp, parseTimestampResponse, type TimestampAuthority } from '../../src/sigstore/timestamp.js';
import { requestTimestamp, buildTimestampRequest } from '../../src/sigstore/tsa-client.js';
import { isSignetError } from '../../src/errors.js';
import { buildChain, mount, type Mounted } from '../server/tsa/helpers.js';

const tmp = () => fs.mkdtemp(join(tmpdir(), 'signet-ts-'));
const sig = Buffer.from('3045022100aa', 'hex');
const stamp = (t: Tsa, data: Buffer = sig, alg: 'sha256' | 'sha384' | 'sha512' = 'sha256') =>
  t.timestamp({ hashAlgorithm: alg, digest: createHash(alg).update(data).digest(), certReq: true });

function refused(f: () => unknown, msg: RegExp): void {
  assert.throws(f, (e) => isSignetError(e, 'VERIFICATION') && msg.test(e.message) && !e.message.includes('\n'));
}

/** Replace the first occurrence of `from` (ASCII) in `der` by the same-length `to`. */
function patch(der: Buffer, from: string, to: string): Buffer {
  const i = der.indexOf(Buffer.from(from));
  assert.ok(i >= 0, `${from} not found`);
  const out = Buffer.from(der);
  Buffer.from(to).copy(out, i);
  return out;
}

function genTimeString(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

describe('verifyTimestamp', () => {
  let tsa: Tsa;
  let other: Tsa;
  let auth: TimestampAuthority;
  before(async () => {
    tsa = await createTsa({ dataDir: await tmp() });
    other = await createTsa({ dataDir: await tmp() });
    auth = tsa.trustedRootTimestampAuthority('http://tsa.test/api/v1/timestamp');
  });

  /** A chain imitating `tsa`'s leaf (same key, issuer, subject, serial) but with the given defects. */
  const imitation = async (spec: Parameters<typeof buildChain>[0] = {}) => {
    const leaf = tsa.chain[0]!;
    const c = await buildChain({
      leafSpki: leaf.publicKey.export({ format: 'der', type: 'spki' }),
      leafSubject: 'CN=signet-tsa, O=signet',
      rootSubject: 'CN=signet-tsa-root, O=signet',
      leafSerial: leaf.serialNumber.toLowerCase(),
      ...spec,
    });
    return { certChain: { certificates: c.chain.map((x) => ({ rawBytes: Buffer.from(x.raw).toString('base64') })) } } as TimestampAuthority;
  };

  test('accepts its own timestamps with every imprint hash, returning genTime and the authority', () => {
    for (const alg of ['sha256', 'sha384', 'sha512'] as const) {
      const t0 = Math.floor(Date.now() / 1000) * 1000;
      const r = verifyTimestamp(stamp(tsa, sig, alg), { signature: sig, authorities: [auth] });
      assert.ok(r.time.getTime() >= t0 - 1000 && r.time.getTime() <= Date.now());
      assert.equal(r.authority, auth);
    }
  });

  test('picks the issuing authority among several, whatever the order', () => {
    const auths = [other.trustedRootTimestampAuthority('o'), auth];
    assert.equal(verifyTimestamp(stamp(tsa), { signature: sig, authorities: auths }).authority, auth);
    assert.equal(verifyTimestamp(stamp(other), { signature: sig, authorities: auths }).authority, auths[0]);
  });

  test('a timestamp authority Signet cannot read is skipped when not needed, and named when nothing else issued the timestamp', () => {
    const broken = { uri: 'https://broken.tsa', certChain: { certificates: [{ rawBytes: Buffer.from('not a certificate').toString('base64') }] } } as TimestampAuthority;
    assert.equal(verifyTimestamp(stamp(tsa), { signature: sig, authorities: [broken, auth] }).authority, auth);
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [broken] }), /^timestamp was not issued by a trusted timestamp authority \(timestamp authority https:\/\/broken\.tsa cannot be used: .*certificate does not parse\)$/);
  });

  test('refuses a timestamp from a TSA that is not in the trusted root', () => {
    refused(() => verifyTimestamp(stamp(other), { signature: sig, authorities: [auth] }), /^timestamp was not issued by a trusted timestamp authority$/);
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [] }), /not issued by a trusted timestamp authority/);
  });

  test('refuses a timestamp over other data', () => {
    refused(() => verifyTimestamp(stamp(tsa, Buffer.from('other')), { signature: sig, authorities: [auth] }), /^timestamp is for other data$/);
    refused(() => verifyTimestamp(stamp(tsa), { signature: Buffer.from('other'), authorities: [auth] }), /^timestamp is for other data$/);
  });

  test('refuses a tampered genTime (TSTInfo no longer matches the signed digest)', () => {
    const der = stamp(tsa);
    const g = genTimeString(parseTimestampResponse(der).genTime);
    const earlier = g.slice(0, 2) + String((Number(g[2]) + 9) % 10) + g.slice(3); // a decade away
    refused(() => verifyTimestamp(patch(der, g, earlier), { signature: sig, authorities: [auth] }), /does not match its signed message digest/);
  });

  test('refuses a tampered imprint, signing time, signature, and every flipped byte', () => {
    const der = stamp(tsa);
    const ts = parseTimestampResponse(der);
    const imprint = Buffer.from(ts.tstInfo.messageImprint.hashedMessage.buffer);
    const i = der.indexOf(imprint);
    const bad = Buffer.from(der);
    bad[i + 5]! ^= 1;
    refused(() => verifyTimestamp(bad, { signature: sig, authorities: [auth] }), /for other data/);
    // signing-time is a UTCTime (YYMMDDhhmmssZ) inside the signed attributes.
    const ut = genTimeString(ts.genTime).slice(2);
    const sigTimeAt = der.lastIndexOf(Buffer.from(ut));
    const t2 = Buffer.from(der);
    t2[sigTimeAt + 11] = t2[sigTimeAt + 11] === 0x30 ? 0x31 : 0x30;
    refused(() => verifyTimestamp(t2, { signature: sig, authorities: [auth] }), /signature does not verify/);
    const s2 = Buffer.from(der);
    s2[s2.length - 1]! ^= 0x01;
    refused(() => verifyTimestamp(s2, { signature: sig, authorities: [auth] }), /signature does not verify/);
    // Exhaustive: no single-byte change outside the embedded certificates (unsigned, and unused: trust
    // comes from the trusted root) yields an accepted timestamp.
    const leafDer = Buffer.from(tsa.chain[0]!.raw);
    const certAt = der.indexOf(leafDer);
    assert.ok(certAt > 0);
    for (let k = 0; k < der.length; k++) {
      if (k >= certAt && k < certAt + leafDer.length) continue;
      const m = Buffer.from(der);
      m[k]! ^= 0x40;
      assert.throws(() => verifyTimestamp(m, { signature: sig, authorities: [auth] }), (e) => isSignetError(e), `byte ${k}`);
    }
  });

  test('every truncation, and trailing bytes, are refused as SignetErrors (the zero-copy reader never crashes)', () => {
    const der = stamp(tsa);
    for (let k = 0; k < der.length; k++) {
      assert.throws(() => verifyTimestamp(der.subarray(0, k), { signature: sig, authorities: [auth] }), (e) => isSignetError(e), `prefix ${k}`);
    }
    assert.throws(() => verifyTimestamp(Buffer.concat([der, Buffer.from([0x05, 0x00])]), { signature: sig, authorities: [auth] }), (e) => isSignetError(e, 'MALFORMED'));
    // Same verdict and time as the schema decoder on the intact response.
    assert.equal(verifyTimestamp(der, { signature: sig, authorities: [auth] }).time.getTime(), parseTimestampResponse(der).genTime.getTime());
  });

  test('refuses leaves without the critical timeStamping EKU, broken chains, impostor keys', async () => {
    const noncritical = await imitation({ ekuCritical: false });
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [noncritical] }), /lacks the critical timeStamping extended key usage/);
    const twoEkus = await imitation({ ekus: ['1.3.6.1.5.5.7.3.8', '1.3.6.1.5.5.7.3.3'] });
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [twoEkus] }), /only extended key usage/);
    // Same names and serial, key of another TSA: the signature cannot verify.
    const impostor = await buildChain({ leafSubject: 'CN=signet-tsa, O=signet', rootSubject: 'CN=signet-tsa-root, O=signet', leafSerial: tsa.chain[0]!.serialNumber.toLowerCase() });
    const imp = { certChain: { certificates: impostor.chain.map((x) => ({ rawBytes: Buffer.from(x.raw).toString('base64') })) } };
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [imp] }), /signature does not verify/);
    // Leaf from one chain, root from another.
    const mixed = { certChain: { certificates: [auth.certChain.certificates[0]!, imp.certChain.certificates[1]!] } };
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [mixed] }), /certificate chain does not verify/);
    // The right key in a certificate that is not the one the timestamp names (ESS signing certificate).
    const sameKey = await imitation();
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [sameKey] }), /signing-certificate attribute names another certificate/);
    // ...and the good authority after a bad one still verifies.
    assert.equal(verifyTimestamp(stamp(tsa), { signature: sig, authorities: [noncritical, auth] }).authority, auth);
  });

  test('refuses a genTime outside the authority validFor or the certificates validity', async () => {
    const past = new Date(Date.now() - 86400_000).toISOString();
    const future = new Date(Date.now() + 86400_000).toISOString();
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [{ ...auth, validFor: { start: future } }] }), /validity period of its timestamp authority/);
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [{ ...auth, validFor: { start: '2020-01-01T00:00:00Z', end: past } }] }), /validity period of its timestamp authority/);
    const expired = await imitation({ notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
    refused(() => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [expired] }), /validity period of the timestamp authority certificates/);
  });

  test('a response that is not granted, or not a TimeStampResp, is refused', () => {
    const rejection = Buffer.from(
      AsnSerializer.serialize(new TimeStampResp({ status: new PKIStatusInfo({ status: PKIStatus.rejection, statusString: new PKIFreeText(['bad alg']) }) })),
    );
    refused(() => verifyTimestamp(rejection, { signature: sig, authorities: [auth] }), /refused the request \(status 2: bad alg\)/);
    assert.throws(() => verifyTimestamp(Buffer.from('nope'), { signature: sig, authorities: [auth] }), (e) => isSignetError(e, 'MALFORMED'));
    assert.throws(
      () => verifyTimestamp(stamp(tsa), { signature: sig, authorities: [{ certChain: { certificates: [{ rawBytes: '!!' }] } }] }),
      // An authority that cannot be read fails only the timestamp that needs it, saying why.
      (e) => isSignetError(e, 'VERIFICATION') && /authority cannot be used: timestamp authority certificate 0 is not valid base64/.test(e.message),
    );
  });
});

describe('requestTimestamp', () => {
  let tsa: Tsa;
  let srv: Mounted;
  let fake: Mounted;
  let fakeAnswer: (body: Buffer) => { status: number; body: Buffer | string };
  before(async () => {
    tsa = await createTsa({ dataDir: await tmp() });
    srv = await mount(tsa.routes());
    fake = await mount([
      {
        method: 'POST',
        path: '/api/v1/timestamp',
        handle: async (req) => ({ ...fakeAnswer(req.body), headers: { 'content-type': 'application/timestamp-reply' } }),
      },
    ]);
  });
  after(async () => {
    await srv.close();
    await fake.close();
  });

  test('round trip: request over HTTP, then verify against the trusted root entry', async () => {
    for (const hashAlg of ['sha256', 'sha384', 'sha512'] as const) {
      const der = await requestTimestamp(`${srv.url}/api/v1/timestamp`, sig, { hashAlg });
      const ts = parseTimestampResponse(der);
      assert.equal(ts.signedData.certificates?.length, 1, 'certReq is sent');
      assert.ok(ts.tstInfo.nonce, 'a nonce is sent');
      const r = verifyTimestamp(der, { signature: sig, authorities: [tsa.trustedRootTimestampAuthority(srv.url)] });
      assert.ok(Math.abs(r.time.getTime() - Date.now()) < 3000);
    }
  });

  test('a TSA answering for other data, or without our nonce, is refused', async () => {
    fakeAnswer = () => ({ status: 200, body: stamp(tsa, Buffer.from('other')) });
    await assert.rejects(requestTimestamp(`${fake.url}/api/v1/timestamp`, sig), (e) => isSignetError(e, 'VERIFICATION') && /other data than requested/.test(e.message));
    fakeAnswer = () => ({ status: 200, body: stamp(tsa) }); // right imprint, no nonce
    await assert.rejects(requestTimestamp(`${fake.url}/api/v1/timestamp`, sig), (e) => isSignetError(e, 'VERIFICATION') && /nonce/.test(e.message));
    fakeAnswer = () => ({ status: 200, body: tsa.timestampDer(buildTimestampRequest(sig).der) }); // another request's nonce
    await assert.rejects(requestTimestamp(`${fake.url}/api/v1/timestamp`, sig), (e) => isSignetError(e, 'VERIFICATION') && /nonce/.test(e.message));
    fakeAnswer = (body) => ({ status: 200, body: tsa.timestampDer(body) }); // an honest relay works
    assert.ok((await requestTimestamp(`${fake.url}/api/v1/timestamp`, sig)).length > 0);
  });

  test('HTTP errors and unreachable servers are NETWORK errors with the reason', async () => {
    fakeAnswer = () => ({ status: 400, body: JSON.stringify({ code: 400, message: 'bad things' }) });
    await assert.rejects(requestTimestamp(`${fake.url}/api/v1/timestamp`, sig), (e) => isSignetError(e, 'NETWORK') && /answered 400: bad things$/.test(e.message));
    fakeAnswer = () => ({ status: 200, body: 'not der' });
    await assert.rejects(requestTimestamp(`${fake.url}/api/v1/timestamp`, sig), (e) => isSignetError(e, 'MALFORMED'));
    fakeAnswer = () => ({ status: 200, body: Buffer.alloc((1 << 20) + 1) });
    await assert.rejects(requestTimestamp(`${fake.url}/api/v1/timestamp`, sig), (e) => isSignetError(e, 'TOO_LARGE'));
    const dead = await mount([]);
    const url = dead.url;
    await dead.close();
    await assert.rejects(requestTimestamp(`${url}/api/v1/timestamp`, sig), (e) => isSignetError(e, 'NETWORK') && /cannot reach/.test(e.message));
  });
});
