/**
 * The timestamp authority as a library service: key/chain lifecycle, the TimeStampResp it issues
 * (field by field), the requests it refuses, and its HTTP routes as mounted on node:http.
 */
import 'reflect-metadata';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { AsnParser, AsnSerializer, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, Extension, Extensions } from '@peculiar/asn1-x509';
import { MessageImprint, TimeStampReq, TimeStampResp, TSTInfo } from '@peculiar/asn1-tsp';
import { CHAIN_FILE, createTsa, KEY_FILE, MAX_BODY, parseTimestampRequest, type TimestampRequest, type Tsa } from '../../../src/server/tsa/index.js';
import { buildTimestampRequest } from '../../../src/sigstore/tsa-client.js';
import { HASH_OID, OID, parseTimestampResponse, SigningCertificateV2, verifyTimestamp, integerValue } from '../../../src/sigstore/timestamp.js';
import { isSignetError } from '../../../src/errors.js';
import { buildChain, mount, type Mounted } from './helpers.js';

const tmp = () => fs.mkdtemp(join(tmpdir(), 'signet-tsa-'));
const sha = (alg: string, d: string | Buffer) => createHash(alg).update(d).digest();

function derRequest(p: { alg?: string; digest?: Buffer; nonce?: number[]; certReq?: boolean; policy?: string; extensions?: boolean }): Buffer {
  const req = new TimeStampReq({
    version: 1,
    messageImprint: new MessageImprint({
      hashAlgorithm: new AlgorithmIdentifier({ algorithm: p.alg ?? OID.sha256 }),
      hashedMessage: new OctetString(p.digest ?? sha('sha256', 'x')),
    }),
    nonce: p.nonce ? new Uint8Array(p.nonce).buffer : undefined,
    certReq: p.certReq ?? false,
    reqPolicy: p.policy,
    extensions: p.extensions
      ? new Extensions([new Extension({ extnID: '1.2.3.4', critical: false, extnValue: new OctetString(Buffer.from([1])) })])
      : undefined,
  });
  return Buffer.from(AsnSerializer.serialize(req));
}

describe('TSA key and chain', () => {
  test('first start creates a root P-384 -> leaf P-256 chain with the single critical timeStamping EKU; later starts load it', async () => {
    const dir = await tmp();
    const a = await createTsa({ dataDir: dir });
    assert.equal((await fs.stat(join(dir, KEY_FILE))).mode & 0o777, 0o600);
    assert.equal((await fs.stat(join(dir, CHAIN_FILE))).mode & 0o777, 0o644);
    assert.match(await fs.readFile(join(dir, KEY_FILE), 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal(a.chain.length, 2);
    const [leaf, root] = a.chain;
    assert.equal(root!.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
    assert.equal(leaf!.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(root!.ca && root!.verify(root!.publicKey) && leaf!.verify(root!.publicKey) && !leaf!.ca);
    const pl = new x509.X509Certificate(leaf!.raw);
    const eku = pl.getExtension(x509.ExtendedKeyUsageExtension)!;
    assert.equal(eku.critical, true);
    assert.deepEqual([...eku.usages], ['1.3.6.1.5.5.7.3.8']);
    const ku = pl.getExtension(x509.KeyUsagesExtension)!;
    assert.equal(ku.critical, true);
    assert.equal(ku.usages, x509.KeyUsageFlags.digitalSignature);

    const b = await createTsa({ dataDir: dir });
    assert.deepEqual(b.chain.map((c) => c.fingerprint256), a.chain.map((c) => c.fingerprint256));
    assert.equal(b.chainPem(), a.chainPem());
  });

  test('a key left without its chain (interrupted first start) is replaced; a chain without its key is an error', async () => {
    const dir = await tmp();
    await createTsa({ dataDir: dir });
    await fs.rm(join(dir, CHAIN_FILE));
    const oldKey = await fs.readFile(join(dir, KEY_FILE), 'utf8');
    await createTsa({ dataDir: dir });
    assert.notEqual(await fs.readFile(join(dir, KEY_FILE), 'utf8'), oldKey);
    await fs.rm(join(dir, KEY_FILE));
    await assert.rejects(createTsa({ dataDir: dir }), (e) => isSignetError(e, 'IO') && /key .* is missing/.test(e.message));
  });

  test('a stored key that does not belong to the stored leaf is refused at start', async () => {
    const dir = await tmp();
    await createTsa({ dataDir: dir });
    const other = await buildChain();
    await fs.writeFile(join(dir, KEY_FILE), other.leafKeyPem!);
    await assert.rejects(createTsa({ dataDir: dir }), (e) => isSignetError(e, 'KEY_FORMAT') && /signature does not verify/.test(e.message));
  });

  test('a given key and chain are used as they are', async () => {
    const c = await buildChain();
    const tsa = await createTsa({ dataDir: await tmp(), key: c.leafKeyPem!, chain: c.chainPem });
    assert.equal(tsa.chain[0]!.fingerprint256, c.chain[0]!.fingerprint256);
    const sig = Buffer.from('sig');
    const r = tsa.timestamp({ hashAlgorithm: 'sha256', digest: sha('sha256', sig), certReq: true });
    assert.equal(verifyTimestamp(r, { signature: sig, authorities: [tsa.trustedRootTimestampAuthority('u')] }).authority.uri, 'u');
  });

  test('a given leaf without the critical timeStamping EKU, or with more EKUs, is refused; key and chain come together', async () => {
    const nonCritical = await buildChain({ ekuCritical: false });
    await assert.rejects(createTsa({ dataDir: await tmp(), key: nonCritical.leafKeyPem!, chain: nonCritical.chainPem }), (e) =>
      isSignetError(e, 'KEY_FORMAT') && /critical timeStamping/.test(e.message),
    );
    const extra = await buildChain({ ekus: ['1.3.6.1.5.5.7.3.8', '1.3.6.1.5.5.7.3.3'] });
    await assert.rejects(createTsa({ dataDir: await tmp(), key: extra.leafKeyPem!, chain: extra.chainPem }), (e) =>
      isSignetError(e, 'KEY_FORMAT') && /only extended key usage/.test(e.message),
    );
    await assert.rejects(createTsa({ dataDir: await tmp(), key: extra.leafKeyPem! }), (e) => isSignetError(e, 'USAGE'));
    await assert.rejects(createTsa({ dataDir: await tmp(), key: 'not a key', chain: extra.chainPem }), (e) => isSignetError(e, 'KEY_FORMAT'));
  });
});

describe('TSA responses', () => {
  let tsa: Tsa;
  before(async () => {
    tsa = await createTsa({ dataDir: await tmp(), acceptedPolicyOids: ['1.2.3.4.5'] });
  });

  test('JSON request: TSTInfo, signed attributes and certificates as Sigstore TSA issues them', () => {
    const digest = sha('sha384', 'artifact signature');
    const t0 = Date.now();
    const der = tsa.timestampJson(
      Buffer.from(JSON.stringify({ artifactHash: digest.toString('base64'), hashAlgorithm: 'sha384', certificates: true, nonce: 1234567 })),
    );
    const ts = parseTimestampResponse(der);
    const info = ts.tstInfo;
    assert.equal(info.version, 1);
    assert.equal(info.policy, OID.sigstoreTsaPolicy);
    assert.equal(info.messageImprint.hashAlgorithm.algorithm, OID.sha384);
    assert.deepEqual(Buffer.from(info.messageImprint.hashedMessage.buffer), digest);
    assert.equal(integerValue(info.nonce), 1234567n);
    assert.equal(info.accuracy?.seconds, 1);
    assert.equal(info.ordering, false);
    assert.equal(info.genTime.getUTCMilliseconds(), 0);
    assert.ok(Math.abs(info.genTime.getTime() - t0) < 2000);
    assert.equal(info.serialNumber.byteLength, 20);
    assert.equal(ts.signedData.version, 3);
    assert.equal(ts.signedData.certificates?.length, 1);
    assert.deepEqual(Buffer.from(AsnSerializer.serialize(ts.signedData.certificates![0]!.certificate!)), Buffer.from(tsa.chain[0]!.raw));
    assert.deepEqual([...ts.attrs.keys()].sort(), [
      OID.attrContentType,
      OID.attrMessageDigest,
      OID.attrSigningTime,
      OID.attrSigningCertificateV2,
    ].sort());
    const sc = AsnParser.parse(ts.attrs.get(OID.attrSigningCertificateV2)!, SigningCertificateV2);
    assert.equal(sc.certs[0]!.hashAlgorithm, undefined, 'SHA-256 is the DEFAULT and must not be encoded');
    assert.deepEqual(Buffer.from(sc.certs[0]!.certHash.buffer), sha('sha256', Buffer.from(tsa.chain[0]!.raw)));
    const md = AsnParser.parse(ts.attrs.get(OID.attrMessageDigest)!, OctetString);
    assert.deepEqual(Buffer.from(md.buffer), sha('sha256', ts.tstInfoDer));
    // Each issued serial is fresh.
    const again = parseTimestampResponse(tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: digest.toString('base64'), hashAlgorithm: 'sha384' }))));
    assert.notDeepEqual(Buffer.from(again.tstInfo.serialNumber), Buffer.from(info.serialNumber));
    assert.equal(again.signedData.certificates, undefined, 'certificates only on request');
    assert.equal(again.tstInfo.nonce, undefined);
  });

  test('DER request: nonce bytes, requested policy and certReq honoured', () => {
    const digest = sha('sha512', 'x');
    const der = tsa.timestampDer(derRequest({ alg: OID.sha512, digest, nonce: [0x00, 0x80, 0x01], certReq: true, policy: '1.2.3.4.5' }));
    const ts = parseTimestampResponse(der);
    assert.equal(ts.tstInfo.policy, '1.2.3.4.5');
    assert.deepEqual(Buffer.from(ts.tstInfo.nonce!), Buffer.from([0x00, 0x80, 0x01]));
    assert.equal(ts.signedData.certificates?.length, 1);
    assert.deepEqual(Buffer.from(ts.tstInfo.messageImprint.hashedMessage.buffer), digest);
  });

  test('certReq answers carry the TSA certificates as stored, encoded once per TSA rather than once per answer', async () => {
    // Re-encoding a parsed certificate through the schema on every answer cost as much as the rest of the
    // answer; count the Certificate objects the schema serializer is handed while answering.
    const withChain = await createTsa({ dataDir: await tmp(), includeChainInResponse: true });
    const original = AsnSerializer.toASN;
    let encoded = 0;
    AsnSerializer.toASN = function (this: typeof AsnSerializer, obj: unknown) {
      if (obj instanceof Certificate) encoded++;
      return original.call(this, obj);
    } as typeof AsnSerializer.toASN;
    let der: Buffer;
    let derChain: Buffer;
    try {
      der = tsa.timestampDer(derRequest({ certReq: true, nonce: [1, 2, 3] }));
      derChain = withChain.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha256', 'y').toString('base64'), hashAlgorithm: 'sha256', certificates: true })));
    } finally {
      AsnSerializer.toASN = original;
    }
    assert.equal(encoded, 0);
    for (const [answer, t] of [[der, tsa], [derChain, withChain]] as const) {
      const ts = parseTimestampResponse(answer);
      const want = t === tsa ? t.chain.slice(0, 1) : t.chain;
      assert.deepEqual(Array.from(ts.signedData.certificates!, (c) => Buffer.from(AsnSerializer.serialize(c.certificate!))), want.map((c) => Buffer.from(c.raw)));
      // Still one strict DER TimeStampResp: decoding and encoding it again gives the same bytes.
      assert.deepEqual(Buffer.from(AsnSerializer.serialize(AsnParser.parse(answer, TimeStampResp))), answer);
    }
    const sig = Buffer.from('sig');
    const r = withChain.timestamp({ hashAlgorithm: 'sha256', digest: sha('sha256', sig), certReq: true });
    assert.equal(verifyTimestamp(r, { signature: sig, authorities: [withChain.trustedRootTimestampAuthority('u')] }).authority.uri, 'u');
  });

  test('answers assembled from DER pieces are strict DER for every request shape, and verify', () => {
    const shapes: Array<[string, Buffer]> = [
      ['DER, NULL parameters, nonce, certReq, policy', tsa.timestampDer(Buffer.from(AsnSerializer.serialize(new TimeStampReq({
        version: 1,
        messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: OID.sha256, parameters: null }), hashedMessage: new OctetString(sha('sha256', 'sig')) }),
        nonce: new Uint8Array([0x7f, 0xff, 0x01]).buffer,
        certReq: true,
        reqPolicy: '1.2.3.4.5',
      }))))],
      ['DER, absent parameters, no nonce', tsa.timestampDer(derRequest({ alg: OID.sha384, digest: sha('sha384', 'sig') }))],
      ['JSON, no certificates', tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha256', 'sig').toString('base64'), hashAlgorithm: 'sha256' })))],
      ['JSON, certificates and nonce', tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha512', 'sig').toString('base64'), hashAlgorithm: 'sha512', certificates: true, nonce: -5 })))],
      ['the Signet client\'s request', tsa.timestampDer(buildTimestampRequest(Buffer.from('sig')).der)],
    ];
    for (const [name, answer] of shapes) {
      assert.deepEqual(Buffer.from(AsnSerializer.serialize(AsnParser.parse(answer, TimeStampResp))), answer, `${name}: not strict DER`);
      const ts = parseTimestampResponse(answer);
      assert.deepEqual(Buffer.from(AsnSerializer.serialize(AsnParser.parse(ts.tstInfoDer, TSTInfo))), Buffer.from(ts.tstInfoDer), `${name}: TSTInfo`);
      assert.equal(verifyTimestamp(answer, { signature: Buffer.from('sig'), authorities: [tsa.trustedRootTimestampAuthority('u')] }).authority.uri, 'u', name);
    }
  });

  test('the signing-time attribute is UTCTime until 2049 and GeneralizedTime from 2050 (RFC 5652 §11.3)', async () => {
    for (const [iso, tag] of [['2049-12-31T23:59:59Z', 0x17], ['2050-01-01T00:00:00Z', 0x18]] as const) {
      const at = new Date(iso);
      const c = await buildChain({ notBefore: new Date(at.getTime() - 86400_000), notAfter: new Date(at.getTime() + 86400_000) });
      const t = await createTsa({ dataDir: await tmp(), key: c.leafKeyPem!, chain: c.chainPem, now: () => at });
      const ts = parseTimestampResponse(t.timestamp({ hashAlgorithm: 'sha256', digest: sha('sha256', 'x'), certReq: false }));
      assert.equal(ts.tstInfo.genTime.getTime(), at.getTime());
      const st = Buffer.from(ts.attrs.get(OID.attrSigningTime)!);
      assert.equal(st[0], tag, iso);
      const text = st.subarray(2).toString('latin1');
      assert.equal(text, tag === 0x17 ? '491231235959Z' : '20500101000000Z');
    }
  });

  test('DER requests are read without the ASN.1 schema, accepting and refusing exactly what a schema decode and re-encode did', () => {
    // The reference: the schema reader this replaced (decode, then insist the re-encoding gives the same bytes).
    const reference = (der: Buffer): string => {
      let req: TimeStampReq;
      try {
        req = AsnParser.parse(der, TimeStampReq);
        if (!Buffer.from(AsnSerializer.serialize(req)).equals(der)) return 'refused';
      } catch {
        return 'refused';
      }
      if (req.version !== 1 || (req.extensions && req.extensions.length > 0)) return 'refused';
      const alg = req.messageImprint.hashAlgorithm;
      // The schema reads NULL parameters as null, absent ones as undefined.
      const p = alg.parameters === null ? Buffer.from([5, 0]) : alg.parameters ? Buffer.from(alg.parameters) : undefined;
      if (p && !p.equals(Buffer.from([5, 0]))) return 'refused';
      const digestLen: Record<string, number> = { [OID.sha256]: 32, [OID.sha384]: 48, [OID.sha512]: 64 };
      if (digestLen[alg.algorithm] !== req.messageImprint.hashedMessage.byteLength) return 'refused';
      return JSON.stringify([alg.algorithm, p?.toString('hex'), Buffer.from(req.messageImprint.hashedMessage.buffer).toString('hex'), req.nonce && Buffer.from(req.nonce).toString('hex'), req.certReq, req.reqPolicy]);
    };
    const ours = (der: Buffer): string => {
      let r: TimestampRequest;
      try {
        r = parseTimestampRequest(der);
      } catch (e) {
        assert.ok(isSignetError(e, 'MALFORMED') && !e.message.includes('\n'), String(e));
        return 'refused';
      }
      const p = r.hashAlgorithmId?.parameters === null ? Buffer.from([5, 0]) : undefined;
      return JSON.stringify([HASH_OID[r.hashAlgorithm], p?.toString('hex'), r.digest.toString('hex'), r.nonce && Buffer.from(r.nonce).toString('hex'), r.certReq, r.policy]);
    };
    const seeds = [
      derRequest({}),
      derRequest({ certReq: true, nonce: [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08] }),
      derRequest({ alg: OID.sha512, digest: sha('sha512', 'x'), nonce: [0x00, 0x80], certReq: true, policy: '1.2.3.4.5' }),
      derRequest({ alg: OID.sha384, digest: sha('sha384', 'x'), nonce: [0xff, 0x7f] }),
      derRequest({ extensions: true }),
      Buffer.from(AsnSerializer.serialize(new TimeStampReq({ version: 1, messageImprint: new MessageImprint({ hashAlgorithm: new AlgorithmIdentifier({ algorithm: OID.sha256, parameters: null }), hashedMessage: new OctetString(sha('sha256', 'n')) }) }))),
      buildTimestampRequest(Buffer.from('signature')).der,
    ];
    let accepted = 0;
    let count = 0;
    const check = (der: Buffer): void => {
      const want = reference(der);
      assert.equal(ours(der), want, der.toString('hex'));
      if (want !== 'refused') accepted++;
      count++;
    };
    for (const seed of seeds) {
      check(seed);
      for (let i = 0; i < seed.length; i++) {
        for (const v of [0x00, 0x01, 0x02, 0x05, 0x06, 0x30, 0x7f, 0x80, 0x81, 0xa0, 0xff, seed[i]! ^ 0x01, seed[i]! + 1, seed[i]! - 1]) {
          const m = Buffer.from(seed);
          m[i] = v & 0xff;
          check(m);
        }
        check(Buffer.concat([seed.subarray(0, i), seed.subarray(i + 1)]));
        check(seed.subarray(0, i));
      }
    }
    // Hand-made encodings the schema reader refuses or accepts.
    const imprint = '300d06096086480165030402010500' + '0420' + sha('sha256', 'h').toString('hex');
    const imprintSeq = '3031' + imprint;
    const req = (body: string): Buffer => Buffer.from('30' + (body.length / 2).toString(16).padStart(2, '0') + body, 'hex');
    for (const body of [
      '020101' + imprintSeq, // minimal
      '020101' + imprintSeq + '010100', // certReq FALSE encoded: not DER
      '020101' + imprintSeq + '0101ff',
      '020101' + imprintSeq + '010101', // TRUE must be 0xff in DER
      '020101' + imprintSeq + '02020001', // non-minimal nonce
      '020101' + imprintSeq + '0200', // empty INTEGER
      '020101' + imprintSeq + '0202ff80', // non-minimal negative nonce
      '020101' + imprintSeq + '0201ff', // -1
      '020101' + imprintSeq + '0101ff' + '020101', // out of order
      '02020001' + imprintSeq, // non-minimal version
      '020102' + imprintSeq, // version 2
      '020101' + imprintSeq + '06032a0304', // policy 1.2.3.4
      '020101' + imprintSeq + 'a000', // empty extensions
    ]) {
      check(req(body));
    }
    assert.ok(accepted > seeds.length && count > 5000, `${accepted} accepted of ${count}`);

    const original = AsnParser.parse;
    let schemaReads = 0;
    AsnParser.parse = function (this: typeof AsnParser, ...args: Parameters<typeof AsnParser.parse>) {
      schemaReads++;
      return original.apply(this, args);
    } as typeof AsnParser.parse;
    try {
      parseTimestampRequest(seeds[2]!);
    } finally {
      AsnParser.parse = original;
    }
    assert.equal(schemaReads, 0);
  });

  test('negative and zero JSON nonces are encoded as minimal INTEGERs', () => {
    for (const n of [0, -1, 127, 128, -129, Number.MAX_SAFE_INTEGER]) {
      const ts = parseTimestampResponse(
        tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha256', 'a').toString('base64'), hashAlgorithm: 'sha256', nonce: n }))),
      );
      assert.equal(integerValue(ts.tstInfo.nonce), BigInt(n), String(n));
    }
  });

  const rejected: [string, () => Buffer][] = [
    ['sha1 is a weak hash', () => tsa.timestampDer(derRequest({ alg: OID.sha1, digest: sha('sha1', 'x') }))],
    ['digest length mismatch', () => tsa.timestampDer(derRequest({ alg: OID.sha384, digest: sha('sha256', 'x') }))],
    ['unknown hash', () => tsa.timestampDer(derRequest({ alg: '1.2.3', digest: sha('sha256', 'x') }))],
    ['policy not accepted', () => tsa.timestampDer(derRequest({ policy: '1.2.3.9' }))],
    ['extensions', () => tsa.timestampDer(derRequest({ extensions: true }))],
    ['trailing bytes', () => tsa.timestampDer(Buffer.concat([derRequest({}), Buffer.from([0])]))],
    ['garbage', () => tsa.timestampDer(Buffer.from('not der'))],
    ['empty', () => tsa.timestampDer(Buffer.alloc(0))],
    ['JSON sha1', () => tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha1', 'x').toString('base64'), hashAlgorithm: 'sha1' })))],
    ['JSON length mismatch', () => tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha256', 'x').toString('base64'), hashAlgorithm: 'sha512' })))],
    ['JSON bad base64', () => tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: 'a b c', hashAlgorithm: 'sha256' })))],
    ['JSON missing hash', () => tsa.timestampJson(Buffer.from(JSON.stringify({ hashAlgorithm: 'sha256' })))],
    ['JSON float nonce', () => tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha256', 'x').toString('base64'), hashAlgorithm: 'sha256', nonce: 1.5 })))],
    ['JSON huge nonce', () => tsa.timestampJson(Buffer.from(`{"artifactHash":"${sha('sha256', 'x').toString('base64')}","hashAlgorithm":"sha256","nonce":123456789012345678901234567890}`))],
    ['JSON string certificates', () => tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha256', 'x').toString('base64'), hashAlgorithm: 'sha256', certificates: 'yes' })))],
    ['JSON bad policy', () => tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha256', 'x').toString('base64'), hashAlgorithm: 'sha256', tsaPolicyOID: 'abc' })))],
    ['JSON unaccepted policy', () => tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha256', 'x').toString('base64'), hashAlgorithm: 'sha256', tsaPolicyOID: '1.9.9' })))],
    ['JSON not an object', () => tsa.timestampJson(Buffer.from('[1]'))],
    ['JSON invalid', () => tsa.timestampJson(Buffer.from('{'))],
  ];
  for (const [name, f] of rejected) {
    test(`refused: ${name}`, () => {
      assert.throws(f, (e) => isSignetError(e, 'MALFORMED') && !e.message.includes('\n'));
    });
  }

  test('refused: a JSON body over 1024 bytes, a DER body over 1 MiB', () => {
    assert.throws(
      () => tsa.timestampJson(Buffer.from(JSON.stringify({ artifactHash: sha('sha256', 'x').toString('base64'), hashAlgorithm: 'sha256', pad: 'x'.repeat(1100) }))),
      (e) => isSignetError(e, 'TOO_LARGE'),
    );
    assert.throws(() => tsa.timestampDer(Buffer.alloc(MAX_BODY + 1)), (e) => isSignetError(e, 'TOO_LARGE'));
  });

  test('trusted root element: subject, uri, chain leaf to root, validFor.start = leaf notBefore', () => {
    const a = tsa.trustedRootTimestampAuthority('https://tsa.example/api/v1/timestamp');
    assert.deepEqual(a.subject, { organization: 'signet', commonName: 'signet-tsa' });
    assert.equal(a.uri, 'https://tsa.example/api/v1/timestamp');
    assert.deepEqual(
      a.certChain.certificates.map((c) => c.rawBytes),
      tsa.chain.map((c) => Buffer.from(c.raw).toString('base64')),
    );
    assert.equal(new Date(a.validFor!.start!).getTime(), new Date(tsa.chain[0]!.validFrom).getTime());
    assert.match(a.validFor!.start!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});

describe('TSA routes over HTTP', () => {
  let tsa: Tsa;
  let srv: Mounted;
  before(async () => {
    tsa = await createTsa({ dataDir: await tmp() });
    srv = await mount(tsa.routes());
  });
  after(() => srv.close());

  const post = (type: string, body: Buffer | string) =>
    fetch(`${srv.url}/api/v1/timestamp`, { method: 'POST', headers: { 'content-type': type }, body });

  test('DER and JSON requests get application/timestamp-reply', async () => {
    for (const [type, body] of [
      ['application/timestamp-query', derRequest({})],
      ['application/json; charset=utf-8', JSON.stringify({ artifactHash: sha('sha256', 'x').toString('base64'), hashAlgorithm: 'sha256' })],
    ] as const) {
      const r = await post(type, body);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/timestamp-reply');
      const ts = parseTimestampResponse(Buffer.from(await r.arrayBuffer()));
      assert.ok(ts.tstInfo instanceof TSTInfo);
    }
  });

  test('malformed requests get 400 with a JSON error, oversized 413, other content types 415', async () => {
    let r = await post('application/timestamp-query', Buffer.from('junk'));
    assert.equal(r.status, 400);
    const j = (await r.json()) as { code: number; message: string };
    assert.equal(j.code, 400);
    assert.match(j.message, /not a DER TimeStampReq/);
    r = await post('application/json', JSON.stringify({ artifactHash: sha('sha1', 'x').toString('base64'), hashAlgorithm: 'sha1' }));
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { message: string }).message, /sha1/);
    r = await post('application/timestamp-query', Buffer.alloc(MAX_BODY + 10));
    assert.equal(r.status, 413);
    r = await post('text/plain', 'hello');
    assert.equal(r.status, 415);
    await r.body?.cancel();
  });

  test('GET certchain: PEM chain, leaf first', async () => {
    const r = await fetch(`${srv.url}/api/v1/timestamp/certchain`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/pem-certificate-chain');
    const pem = await r.text();
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
    assert.equal(blocks.length, 2);
    assert.equal(createPublicKey(blocks[0]!).export({ format: 'der', type: 'spki' }).toString('hex'), tsa.chain[0]!.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'));
  });
});
