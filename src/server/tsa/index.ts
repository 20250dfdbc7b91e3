/**
 * An RFC 3161 timestamp authority with the HTTP API of Sigstore's timestamp-authority, as a library:
 * it answers requests handed to it (directly or through `routes()`), and the HTTP layer only copies
 * bytes. Key and chain are created on first start (root P-384 -> TSA leaf P-256) or given.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the metadata polyfill loaded first.
import 'reflect-metadata';
import { createHash, createPrivateKey, randomBytes, sign as cryptoSign, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { AsnParser, AsnSerializer, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, GeneralName, GeneralNames } from '@peculiar/asn1-x509';
import {
  Attribute,
  IssuerAndSerialNumber,
  SignerIdentifier,
  DigestAlgorithmIdentifiers,
} from '@peculiar/asn1-cms';
import { Accuracy, PKIStatus, PKIStatusInfo } from '@peculiar/asn1-tsp';
import { SignetError } from '../../errors.js';
import { ioError, readTextIfExists, writeFileAtomic } from '../../fsutil.js';
import { type HashAlg, DIGEST_LENGTH, decodeBase64Strict } from '../../sigstore/encoding.js';
import {
  EssCertIdV2,
  HASH_OID,
  hashAlgFromOid,
  IssuerSerial,
  OID,
  ObjectIdentifierValue,
  SigningCertificateV2,
  type TimestampAuthority,
  verifyTimestamp,
} from '../../sigstore/timestamp.js';
import { derGeneralizedTime, derOidEncode, derTime, derTlv } from '../../sigstore/der.js';
import { type DerElement, derChildren, derOid, derRead } from '../../sigstore/certificate.js';
import { jsonResponse, header, type ServiceRequest, type ServiceResponse, type ServiceRoute } from '../routes.js';

export const TIMESTAMP_PATH = '/api/v1/timestamp';
export const CERTCHAIN_PATH = '/api/v1/timestamp/certchain';
export const DEFAULT_POLICY_OID = OID.sigstoreTsaPolicy;
/** Sigstore's TSA limits: any request body, and the JSON form. */
export const MAX_BODY = 1 << 20;
export const MAX_JSON_BODY = 1024;

export const KEY_FILE = 'tsa-key.pem';
export const CHAIN_FILE = 'tsa-chain.pem';

export interface TsaOptions {
  /** Where the key (PKCS#8 PEM, 0600) and chain (PEM, leaf first) live; created if missing. */
  dataDir: string;
  /** A TSA signing key to use instead of the stored or generated one (needs `chain`). */
  key?: KeyObject | string;
  /** PEM chain for `key`, leaf first. */
  chain?: string;
  /** Policy put in TSTInfo when the request names none. */
  defaultPolicyOid?: string;
  /** Policies a request may ask for (the default policy is always accepted). */
  acceptedPolicyOids?: string[];
  /** Add the intermediates and root to the response when certificates are requested, not only the leaf. */
  includeChainInResponse?: boolean;
  /** Clock, for tests. */
  now?: () => Date;
}

/** A request after decoding, whichever form it came in. */
export interface TimestampRequest {
  hashAlgorithm: HashAlg;
  /** The AlgorithmIdentifier exactly as requested (echoed in the imprint). */
  hashAlgorithmId?: AlgorithmIdentifier;
  digest: Buffer;
  /** INTEGER contents as sent (DER) or as we encoded a JSON number. */
  nonce?: ArrayBuffer;
  certReq: boolean;
  policy?: string;
}

export interface Tsa {
  /** Leaf first, root last. */
  readonly chain: readonly X509Certificate[];
  /** The chain as PEM, leaf first, as served at /api/v1/timestamp/certchain. */
  chainPem(): string;
  /** A DER TimeStampResp for a decoded request. */
  timestamp(req: TimestampRequest): Buffer;
  /** Decode and answer a DER TimeStampReq; SignetError 'MALFORMED' for bad input. */
  timestampDer(der: Uint8Array): Buffer;
  /** Decode and answer the JSON form; SignetError 'MALFORMED' for bad input. */
  timestampJson(body: Uint8Array): Buffer;
  routes(): ServiceRoute[];
  /** This TSA as a trusted root `timestampAuthorities[]` element. */
  trustedRootTimestampAuthority(uri: string): TimestampAuthority;
}

const bad = (message: string): never => {
  throw new SignetError('MALFORMED', message);
};

// ---------------------------------------------------------------------------------------------
// Key and chain
// ---------------------------------------------------------------------------------------------

interface Material {
  key: KeyObject;
  chain: X509Certificate[];
}

function parsePemChain(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) bad(`${what} holds no PEM certificates`);
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (e) {
    throw new SignetError('MALFORMED', `${what} holds a certificate that does not parse`, { cause: e });
  }
}

function parseKey(key: KeyObject | string, what: string): KeyObject {
  if (typeof key !== 'string') return key;
  try {
    return createPrivateKey(key);
  } catch (e) {
    throw new SignetError('KEY_FORMAT', `${what} is not a PEM private key`, { cause: e });
  }
}

function randomSerialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01; // positive, and no leading zero octet to strip
  return b.toString('hex');
}

async function generateChain(): Promise<{ keyPem: string; chainPem: string }> {
  const subtle = webcrypto.subtle;
  const provider = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.create>[1];
  const rootKeys = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const leafKeys = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const years = (n: number) => new Date(Date.UTC(now.getUTCFullYear() + n, now.getUTCMonth(), now.getUTCDate()));
  const root = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialHex(),
      name: 'CN=signet-tsa-root, O=signet',
      notBefore: now,
      notAfter: years(20),
      keys: rootKeys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey, false, provider),
      ],
    },
    provider,
  );
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject: 'CN=signet-tsa, O=signet',
      issuer: root.subject,
      notBefore: now,
      notAfter: years(10),
      publicKey: leafKeys.publicKey,
      signingKey: rootKeys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        // RFC 3161 §2.3: exactly one EKU, timeStamping, critical.
        new x509.ExtendedKeyUsageExtension([OID.kpTimeStamping], true),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false, provider),
        await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey, false, provider),
      ],
    },
    provider,
  );
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', leafKeys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  // The root key is dropped on purpose: nobody, including us, can mint another TSA leaf under it.
  return { keyPem, chainPem: `${leaf.toString('pem')}\n${root.toString('pem')}\n` };
}

async function loadMaterial(opts: TsaOptions): Promise<Material> {
  if (opts.key !== undefined || opts.chain !== undefined) {
    if (opts.key === undefined || opts.chain === undefined) {
      throw new SignetError('USAGE', 'a TSA signing key needs its certificate chain, and a chain needs its key');
    }
    return { key: parseKey(opts.key, 'the TSA signing key'), chain: parsePemChain(opts.chain, 'the TSA certificate chain') };
  }
  const keyPath = join(opts.dataDir, KEY_FILE);
  const chainPath = join(opts.dataDir, CHAIN_FILE);
  let keyPem = await readTextIfExists(keyPath);
  let chainPem = await readTextIfExists(chainPath);
  if (chainPem !== undefined && keyPem === undefined) {
    throw new SignetError('IO', `${chainPath} exists but its key ${keyPath} is missing`);
  }
  // The key is written before the chain, so a key without chain is a first start that was cut short:
  // that key never signed anything and is replaced.
  if (chainPem === undefined) {
    try {
      await fs.mkdir(opts.dataDir, { recursive: true });
    } catch (e) {
      throw ioError(`cannot create ${opts.dataDir}`, e);
    }
    ({ keyPem, chainPem } = await generateChain());
    await writeFileAtomic(keyPath, keyPem, 0o600);
    await writeFileAtomic(chainPath, chainPem, 0o644);
  }
  return { key: parseKey(keyPem!, keyPath), chain: parsePemChain(chainPem, chainPath) };
}

/** Signature parameters for the leaf key: hash, SignerInfo digest and signature algorithm OIDs. */
function signingParams(key: KeyObject): { hash: HashAlg; sigOid: string } {
  if (key.type !== 'private') throw new SignetError('KEY_FORMAT', 'the TSA signing key is not a private key');
  if (key.asymmetricKeyType !== 'ec') throw new SignetError('KEY_UNSUPPORTED', 'the TSA signing key must be an ECDSA key');
  switch (key.asymmetricKeyDetails?.namedCurve) {
    case 'prime256v1':
      return { hash: 'sha256', sigOid: OID.ecdsaWithSha256 };
    case 'secp384r1':
      return { hash: 'sha384', sigOid: OID.ecdsaWithSha384 };
    case 'secp521r1':
      return { hash: 'sha512', sigOid: OID.ecdsaWithSha512 };
    default:
      throw new SignetError('KEY_UNSUPPORTED', `the TSA signing key uses unsupported curve ${key.asymmetricKeyDetails?.namedCurve}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

function checkDigest(alg: HashAlg, digest: Buffer): void {
  if (digest.length !== DIGEST_LENGTH[alg]) {
    bad(`message digest has ${digest.length} bytes, ${alg} digests have ${DIGEST_LENGTH[alg]}`);
  }
}

function hashFromOid(oid: string): HashAlg {
  if (oid === OID.sha1) bad('sha1 is a weak hash algorithm and is not accepted');
  const alg = hashAlgFromOid(oid);
  if (!alg) bad(`unsupported hash algorithm ${oid}`);
  return alg!;
}

/**
 * Decode a DER TimeStampReq, read in place. It accepts what decoding with the schema and insisting that
 * the re-encoding give the same bytes accepted (definite minimal lengths, one element spanning the body,
 * fields in order, certReq TRUE as 0xff and FALSE left out; the nonce's bytes are kept as sent), at a
 * twentieth of the cost: Signet's and cosign's requests come in this form.
 */
export function parseTimestampRequest(input: Uint8Array): TimestampRequest {
  if (input.length > MAX_BODY) throw new SignetError('TOO_LARGE', `timestamp request exceeds ${MAX_BODY} bytes`);
  const der = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const notDer = (): never => bad('request is not a DER TimeStampReq');
  // The element readers' own refusals (truncated, non-minimal length, …) all mean the same here.
  const read = <T>(f: () => T): T => {
    try {
      return f();
    } catch {
      return notDer();
    }
  };
  const what = 'timestamp request';
  // TimeStampReq ::= SEQUENCE { version INTEGER, messageImprint MessageImprint, reqPolicy OID OPTIONAL,
  //   nonce INTEGER OPTIONAL, certReq BOOLEAN DEFAULT FALSE, extensions [0] IMPLICIT Extensions OPTIONAL }
  // MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
  const top = read(() => derRead(der, 0, der.length, what));
  if (top.tag !== 0x30 || top.end !== der.length) notDer();
  const f = read(() => derChildren(der, top, what));
  if (f.length < 2 || f[0]!.tag !== 0x02 || f[1]!.tag !== 0x30) notDer();
  const imprint = read(() => derChildren(der, f[1]!, what));
  if (imprint.length !== 2 || imprint[0]!.tag !== 0x30 || imprint[1]!.tag !== 0x04) notDer();
  const alg = read(() => derChildren(der, imprint[0]!, what));
  if (alg.length < 1 || alg.length > 2) notDer();
  const version = f[0]!;
  if (version.end - version.body !== 1) notDer();
  if (der[version.body] !== 1) bad(`unsupported TimeStampReq version ${der.readInt8(version.body)}`);
  const order = [0x06, 0x02, 0x01, 0xa0];
  const opt = new Map<number, DerElement>();
  let k = 0;
  for (const el of f.slice(2)) {
    while (k < order.length && order[k] !== el.tag) k++;
    if (k === order.length) notDer();
    opt.set(el.tag, el);
    k++;
  }
  const certReq = opt.get(0x01);
  if (certReq && (certReq.end - certReq.body !== 1 || der[certReq.body] !== 0xff)) notDer();
  const extensions = opt.get(0xa0);
  if (extensions && extensions.end > extensions.body) bad('request extensions are not supported');
  const hashOid = read(() => derOid(der, alg[0]!, what));
  const policy = opt.has(0x06) ? read(() => derOid(der, opt.get(0x06)!, what)) : undefined;
  const hashAlgorithm = hashFromOid(hashOid);
  const params = alg[1];
  // Only "absent" and NULL are meaningful parameters for SHA-2 identifiers.
  if (params && !(params.tag === 0x05 && params.end === params.body)) bad('hash algorithm parameters must be absent or NULL');
  const digest = Buffer.from(der.subarray(imprint[1]!.body, imprint[1]!.end));
  checkDigest(hashAlgorithm, digest);
  const nonce = opt.get(0x02);
  return {
    hashAlgorithm,
    // Echoed in the answer's imprint as requested; the schema reads NULL parameters as null.
    hashAlgorithmId: new AlgorithmIdentifier({ algorithm: hashOid, ...(params ? { parameters: null } : {}) }),
    digest,
    nonce: nonce ? new Uint8Array(der.subarray(nonce.body, nonce.end)).buffer : undefined,
    certReq: certReq !== undefined,
    policy,
  };
}

/** INTEGER contents (two's complement, minimal) for a safe JS integer. */
function integerBytes(n: number): ArrayBuffer {
  let v = BigInt(n);
  const out: number[] = [];
  for (;;) {
    const byte = Number(v & 0xffn);
    out.unshift(byte);
    v >>= 8n;
    if ((v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0)) break;
  }
  return new Uint8Array(out).buffer;
}

/** Decode Sigstore's JSON request form. */
export function parseJsonTimestampRequest(body: Uint8Array): TimestampRequest {
  if (body.length > MAX_JSON_BODY) throw new SignetError('TOO_LARGE', `JSON timestamp request exceeds ${MAX_JSON_BODY} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return bad('request is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('request must be a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.artifactHash !== 'string' || o.artifactHash === '') bad('artifactHash must be a base64 string');
  if (typeof o.hashAlgorithm !== 'string') bad('hashAlgorithm must be one of sha256, sha384, sha512');
  const name = (o.hashAlgorithm as string).toLowerCase();
  if (name === 'sha1') bad('sha1 is a weak hash algorithm and is not accepted');
  if (name !== 'sha256' && name !== 'sha384' && name !== 'sha512') bad(`unsupported hashAlgorithm ${JSON.stringify(o.hashAlgorithm)}`);
  const digest = decodeBase64Strict(o.artifactHash as string, 'artifactHash');
  checkDigest(name as HashAlg, digest);
  if (o.certificates !== undefined && typeof o.certificates !== 'boolean') bad('certificates must be a boolean');
  let nonce: ArrayBuffer | undefined;
  if (o.nonce !== undefined && o.nonce !== null) {
    if (typeof o.nonce !== 'number' || !Number.isSafeInteger(o.nonce)) bad('nonce must be an integer within ±2^53');
    nonce = integerBytes(o.nonce as number);
  }
  if (o.tsaPolicyOID !== undefined && (typeof o.tsaPolicyOID !== 'string' || !/^\d+(\.\d+)+$/.test(o.tsaPolicyOID))) {
    bad('tsaPolicyOID must be a dotted object identifier');
  }
  return {
    hashAlgorithm: name as HashAlg,
    digest,
    nonce,
    certReq: o.certificates === true,
    policy: o.tsaPolicyOID as string | undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

function serialize(v: object): Buffer {
  return Buffer.from(AsnSerializer.serialize(v));
}

function attribute(type: string, valueDer: Buffer): Attribute {
  return new Attribute({ attrType: type, attrValues: [new Uint8Array(valueDer).buffer] });
}

export async function createTsa(opts: TsaOptions): Promise<Tsa> {
  const { key, chain } = await loadMaterial(opts);
  const { hash, sigOid } = signingParams(key);
  const now = opts.now ?? (() => new Date());
  const defaultPolicy = opts.defaultPolicyOid ?? DEFAULT_POLICY_OID;
  const accepted = new Set([defaultPolicy, ...(opts.acceptedPolicyOids ?? [])]);

  const leafDer = Buffer.from(chain[0]!.raw);
  const leafAsn = AsnParser.parse(leafDer, Certificate);
  // The envelope of an answer is assembled from encoded fields, the constant ones encoded once. The schema
  // serializer re-parses anything it is handed as encoded bytes (ANY), so wrapping a SignedData that holds
  // certificates in a ContentInfo object decoded and re-encoded the certificates on every certReq answer,
  // as costly as the rest of the answer. SignedData's `certificates [0] IMPLICIT CertificateSet` is the
  // certificates' own DER, leaf first.
  const certificatesField = derTlv(0xa0, ...(opts.includeChainInResponse ? chain : chain.slice(0, 1)).map((c) => Buffer.from(c.raw)));
  const digestAlgorithmsDer = serialize(new DigestAlgorithmIdentifiers([new AlgorithmIdentifier({ algorithm: HASH_OID[hash] })]));
  const signedDataVersion3 = Buffer.from([0x02, 0x01, 0x03]);
  const tstInfoOidDer = serialize(new ObjectIdentifierValue(OID.tstInfo));
  const signedDataOidDer = serialize(new ObjectIdentifierValue(OID.signedData));
  const grantedDer = serialize(new PKIStatusInfo({ status: PKIStatus.granted }));
  const sid = new SignerIdentifier({
    issuerAndSerialNumber: new IssuerAndSerialNumber({
      issuer: leafAsn.tbsCertificate.issuer,
      serialNumber: leafAsn.tbsCertificate.serialNumber,
    }),
  });
  // Constant per leaf: SigningCertificateV2 with the SHA-256 ESSCertIDv2 of the TSA certificate.
  const signingCertAttr = attribute(
    OID.attrSigningCertificateV2,
    serialize(
      new SigningCertificateV2({
        certs: [
          new EssCertIdV2({
            certHash: new OctetString(createHash('sha256').update(leafDer).digest()),
            issuerSerial: new IssuerSerial({
              issuer: new GeneralNames([new GeneralName({ directoryName: leafAsn.tbsCertificate.issuer })]),
              serialNumber: leafAsn.tbsCertificate.serialNumber,
            }),
          }),
        ],
      }),
    ),
  );
  const contentTypeAttr = attribute(OID.attrContentType, serialize(new ObjectIdentifierValue(OID.tstInfo)));
  // Each answer is assembled from DER pieces: the constant ones (attributes, signer identifier, algorithm
  // identifiers, accuracy) encoded once here through the schema, the per-answer fields (TSTInfo, signing
  // time, message digest) written directly. Encoding them through the schema's object model cost about
  // 1.4 ms per answer; a timestamp is a third of the services' work in a keyless signature.
  const contentTypeAttrDer = serialize(contentTypeAttr);
  const signingCertAttrDer = serialize(signingCertAttr);
  const attrSigningTimeOid = derOidEncode(OID.attrSigningTime);
  const attrMessageDigestOid = derOidEncode(OID.attrMessageDigest);
  const accuracyDer = serialize(new Accuracy({ seconds: 1 }));
  const sidDer = serialize(sid);
  const digestAlgorithmDer = serialize(new AlgorithmIdentifier({ algorithm: HASH_OID[hash] }));
  const signatureAlgorithmDer = serialize(new AlgorithmIdentifier({ algorithm: sigOid }));
  const signerInfoVersion1 = Buffer.from([0x02, 0x01, 0x01]);
  const tstInfoVersion1 = Buffer.from([0x02, 0x01, 0x01]);
  const policyDer = new Map<string, Buffer>();
  const derAttribute = (typeOid: Buffer, valueDer: Buffer): Buffer => derTlv(0x30, typeOid, derTlv(0x31, valueDer));

  function timestamp(req: TimestampRequest): Buffer {
    const policy = req.policy ?? defaultPolicy;
    if (!accepted.has(policy)) bad(`policy ${policy} is not accepted by this timestamp authority`);
    let policyOid = policyDer.get(policy);
    if (!policyOid) {
      policyOid = derOidEncode(policy);
      if (policyDer.size < 64) policyDer.set(policy, policyOid);
    }
    const serial = randomBytes(20);
    serial[0] = (serial[0]! & 0x7f) | 0x01;
    // Whole seconds: genTime then needs no fraction, and the 1 s accuracy covers the truncation.
    const genTime = new Date(Math.floor(now().getTime() / 1000) * 1000);
    // The imprint's AlgorithmIdentifier as requested: parameters absent or NULL.
    const id = req.hashAlgorithmId;
    const hashAlgId = id
      ? derTlv(0x30, derOidEncode(id.algorithm), ...(id.parameters === null ? [Buffer.from([0x05, 0x00])] : []))
      : derTlv(0x30, derOidEncode(HASH_OID[req.hashAlgorithm]));
    // TSTInfo ::= SEQUENCE { version, policy, messageImprint, serialNumber, genTime GeneralizedTime,
    //   accuracy OPTIONAL, ordering BOOLEAN DEFAULT FALSE (left out), nonce INTEGER OPTIONAL, … }
    const tstInfoDer = derTlv(
      0x30,
      tstInfoVersion1,
      policyOid,
      derTlv(0x30, hashAlgId, derTlv(0x04, req.digest)),
      derTlv(0x02, serial),
      derGeneralizedTime(genTime),
      accuracyDer,
      ...(req.nonce ? [derTlv(0x02, Buffer.from(req.nonce))] : []),
    );

    // DER orders SET OF by encoding.
    const attrs = [
      contentTypeAttrDer,
      derAttribute(attrSigningTimeOid, derTime(genTime)),
      derAttribute(attrMessageDigestOid, derTlv(0x04, createHash(hash).update(tstInfoDer).digest())),
      signingCertAttrDer,
    ].sort(Buffer.compare);
    // The signature covers the attributes as a SET; SignerInfo carries them as [0] IMPLICIT.
    const signature = cryptoSign(hash, derTlv(0x31, ...attrs), key);

    // SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo, certificates [0] IMPLICIT
    //   OPTIONAL, crls [1] IMPLICIT OPTIONAL, signerInfos }, assembled from its encoded fields.
    // SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0], signatureAlgorithm, signature }
    const signerInfos = derTlv(
      0x31,
      derTlv(0x30, signerInfoVersion1, sidDer, digestAlgorithmDer, derTlv(0xa0, ...attrs), signatureAlgorithmDer, derTlv(0x04, signature)),
    );
    const signedDataDer = derTlv(
      0x30,
      signedDataVersion3,
      digestAlgorithmsDer,
      // EncapsulatedContentInfo ::= SEQUENCE { eContentType, eContent [0] EXPLICIT OCTET STRING }
      derTlv(0x30, tstInfoOidDer, derTlv(0xa0, derTlv(0x04, tstInfoDer))),
      ...(req.certReq ? [certificatesField] : []),
      signerInfos,
    );
    // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo }, and
    // ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT ANY }.
    return derTlv(0x30, grantedDer, derTlv(0x30, signedDataOidDer, derTlv(0xa0, signedDataDer)));
  }

  const timestampDer = (der: Uint8Array) => timestamp(parseTimestampRequest(der));
  const timestampJson = (body: Uint8Array) => timestamp(parseJsonTimestampRequest(body));
  const chainPem = () => chain.map((c) => c.toString().trim() + '\n').join('');

  function trustedRootTimestampAuthority(uri: string): TimestampAuthority {
    const leaf = chain[0]!;
    const field = (dn: string, k: string) => dn.split('\n').find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
    const subject: { organization?: string; commonName?: string } = {};
    const o = field(leaf.subject, 'O');
    const cn = field(leaf.subject, 'CN');
    if (o !== undefined) subject.organization = o;
    if (cn !== undefined) subject.commonName = cn;
    return {
      subject,
      uri,
      certChain: { certificates: chain.map((c) => ({ rawBytes: Buffer.from(c.raw).toString('base64') })) },
      validFor: { start: new Date(leaf.validFrom).toISOString().replace('.000Z', 'Z') },
    };
  }

  async function handleTimestamp(req: ServiceRequest): Promise<ServiceResponse> {
    const type = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    try {
      if (req.body.length > MAX_BODY) throw new SignetError('TOO_LARGE', `request body exceeds ${MAX_BODY} bytes`);
      let der: Buffer;
      if (type === 'application/timestamp-query') der = timestampDer(req.body);
      else if (type === 'application/json') der = timestampJson(req.body);
      else return errorResponse(415, `unsupported content type ${JSON.stringify(type)}: use application/timestamp-query or application/json`);
      return { status: 200, headers: { 'content-type': 'application/timestamp-reply' }, body: der };
    } catch (e) {
      if (e instanceof SignetError && e.code === 'TOO_LARGE') return errorResponse(413, e.message);
      if (e instanceof SignetError && e.code === 'MALFORMED') return errorResponse(400, e.message);
      throw e;
    }
  }

  const tsa: Tsa = {
    chain,
    chainPem,
    timestamp,
    timestampDer,
    timestampJson,
    trustedRootTimestampAuthority,
    routes: () => [
      { method: 'POST', path: TIMESTAMP_PATH, handle: handleTimestamp },
      {
        method: 'GET',
        path: CERTCHAIN_PATH,
        handle: async () => ({ status: 200, headers: { 'content-type': 'application/pem-certificate-chain' }, body: chainPem() }),
      },
    ],
  };

  // Self-test before serving: a key that does not match its leaf, a broken chain or a leaf without the
  // critical timeStamping EKU would otherwise only show up at verification time, on clients.
  const probe = randomBytes(32);
  try {
    verifyTimestamp(timestamp({ hashAlgorithm: 'sha256', digest: createHash('sha256').update(probe).digest(), certReq: false }), {
      signature: probe,
      authorities: [trustedRootTimestampAuthority('self-test')],
    });
  } catch (e) {
    throw new SignetError('KEY_FORMAT', `the TSA key and certificate chain cannot issue verifiable timestamps: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return tsa;
}

/** Sigstore's Go services answer errors with go-openapi's body: {"code": N, "message": "..."}. */
function errorResponse(status: number, message: string): ServiceResponse {
  return jsonResponse(status, { code: status, message });
}
