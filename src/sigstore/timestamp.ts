/**
 * RFC 3161 timestamps through the @peculiar ASN.1 schemas: the schema-based response decoder (the TSA
 * client and tests) and the ESS attribute schemas (the TSA server). Verification is in
 * timestamp-verify.ts, which needs no schema package; client verification paths import it directly so
 * that they do not load the schemas (~250 modules). This module re-exports it for existing callers.
 *
 * The ESS signing-certificate attributes (RFC 2634 / RFC 5035) have no published schema package, so they are declared here with the same schema engine.
 */
import { AsnArray, AsnIntegerArrayBufferConverter, AsnParser, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, GeneralNames, PolicyInformation } from '@peculiar/asn1-x509';
import {
  Attribute,
  CertificateSet,
  CMSVersion,
  ContentInfo,
  DigestAlgorithmIdentifier,
  DigestAlgorithmIdentifiers,
  EncapsulatedContentInfo,
  RevocationInfoChoices,
  SignatureAlgorithmIdentifier,
  SignerIdentifier,
} from '@peculiar/asn1-cms';
import { TimeStampResp, TSTInfo, PKIStatus } from '@peculiar/asn1-tsp';
import { SignetError } from '../errors.js';
import { assertDerFraming, fail, OID } from './timestamp-verify.js';

export {
  HASH_OID,
  hashAlgFromOid,
  OID,
  verifyTimestamp,
  type TimestampAuthority,
  type TimestampVerification,
  type VerifyTimestampOptions,
} from './timestamp-verify.js';

// ---------------------------------------------------------------------------------------------
// ESS signing-certificate attributes (RFC 2634 §5.4, RFC 5035 §3). The schema engine's decorators are
// applied as plain calls because this project compiles with standard (not legacy) decorators.
// ---------------------------------------------------------------------------------------------

/** IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber } */
export class IssuerSerial {
  issuer = new GeneralNames();
  serialNumber = new ArrayBuffer(0);
  constructor(params: Partial<IssuerSerial> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: GeneralNames })(IssuerSerial.prototype, 'issuer');
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })(IssuerSerial.prototype, 'serialNumber');

/** ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT sha256, certHash OCTET STRING, issuerSerial IssuerSerial OPTIONAL } */
export class EssCertIdV2 {
  // Absent means SHA-256 (the DEFAULT); DER forbids encoding a default, so we never set it for SHA-256.
  hashAlgorithm?: AlgorithmIdentifier;
  certHash = new OctetString();
  issuerSerial?: IssuerSerial;
  constructor(params: Partial<EssCertIdV2> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: AlgorithmIdentifier, optional: true })(EssCertIdV2.prototype, 'hashAlgorithm');
AsnProp({ type: OctetString })(EssCertIdV2.prototype, 'certHash');
AsnProp({ type: IssuerSerial, optional: true })(EssCertIdV2.prototype, 'issuerSerial');

/** SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies SEQUENCE OF PolicyInformation OPTIONAL } */
export class SigningCertificateV2 {
  certs: EssCertIdV2[] = [];
  policies?: PolicyInformation[];
  constructor(params: Partial<SigningCertificateV2> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: EssCertIdV2, repeated: 'sequence' })(SigningCertificateV2.prototype, 'certs');
AsnProp({ type: PolicyInformation, repeated: 'sequence', optional: true })(SigningCertificateV2.prototype, 'policies');

/** ESSCertID ::= SEQUENCE { certHash OCTET STRING (SHA-1), issuerSerial IssuerSerial OPTIONAL } */
export class EssCertId {
  certHash = new OctetString();
  issuerSerial?: IssuerSerial;
}
AsnProp({ type: OctetString })(EssCertId.prototype, 'certHash');
AsnProp({ type: IssuerSerial, optional: true })(EssCertId.prototype, 'issuerSerial');

/** SigningCertificate ::= SEQUENCE { certs SEQUENCE OF ESSCertID, policies ... OPTIONAL } */
export class SigningCertificate {
  certs: EssCertId[] = [];
  policies?: PolicyInformation[];
}
AsnProp({ type: EssCertId, repeated: 'sequence' })(SigningCertificate.prototype, 'certs');
AsnProp({ type: PolicyInformation, repeated: 'sequence', optional: true })(SigningCertificate.prototype, 'policies');

/** SignedAttributes encoded for signing: a SET OF Attribute with the universal SET tag (RFC 5652 §5.4). */
export class AttributeSet extends AsnArray<Attribute> {
  constructor(items?: Attribute[]) {
    super(items);
    Object.setPrototypeOf(this, AttributeSet.prototype);
  }
}
AsnType({ type: AsnTypeTypes.Set, itemType: Attribute })(AttributeSet);

/**
 * SignedData / SignerInfo as RFC 5652 defines them, declared again only so that the parser keeps the
 * signed attributes' bytes as received (the published SignerInfo schema asks for them, but the
 * engine drops raw bytes of SET OF fields). Signatures are checked over those bytes, never a re-encoding.
 */
export class SignerInfoView {
  version = CMSVersion.v1;
  sid = new SignerIdentifier();
  digestAlgorithm = new DigestAlgorithmIdentifier();
  signedAttrs?: AttributeSet;
  signedAttrsRaw?: ArrayBuffer;
  signatureAlgorithm = new SignatureAlgorithmIdentifier();
  signature = new OctetString();
  unsignedAttrs?: AttributeSet;
}
AsnProp({ type: AsnPropTypes.Integer })(SignerInfoView.prototype, 'version');
AsnProp({ type: SignerIdentifier })(SignerInfoView.prototype, 'sid');
AsnProp({ type: DigestAlgorithmIdentifier })(SignerInfoView.prototype, 'digestAlgorithm');
AsnProp({ type: AttributeSet, context: 0, implicit: true, optional: true, raw: true })(SignerInfoView.prototype, 'signedAttrs');
AsnProp({ type: SignatureAlgorithmIdentifier })(SignerInfoView.prototype, 'signatureAlgorithm');
AsnProp({ type: OctetString })(SignerInfoView.prototype, 'signature');
AsnProp({ type: AttributeSet, context: 1, implicit: true, optional: true })(SignerInfoView.prototype, 'unsignedAttrs');

export class SignerInfosView extends AsnArray<SignerInfoView> {
  constructor(items?: SignerInfoView[]) {
    super(items);
    Object.setPrototypeOf(this, SignerInfosView.prototype);
  }
}
AsnType({ type: AsnTypeTypes.Set, itemType: SignerInfoView })(SignerInfosView);

export class SignedDataView {
  version = CMSVersion.v3;
  digestAlgorithms = new DigestAlgorithmIdentifiers();
  encapContentInfo = new EncapsulatedContentInfo();
  certificates?: CertificateSet;
  crls?: RevocationInfoChoices;
  signerInfos = new SignerInfosView();
}
AsnProp({ type: AsnPropTypes.Integer })(SignedDataView.prototype, 'version');
AsnProp({ type: DigestAlgorithmIdentifiers })(SignedDataView.prototype, 'digestAlgorithms');
AsnProp({ type: EncapsulatedContentInfo })(SignedDataView.prototype, 'encapContentInfo');
AsnProp({ type: CertificateSet, context: 0, implicit: true, optional: true })(SignedDataView.prototype, 'certificates');
AsnProp({ type: RevocationInfoChoices, context: 1, implicit: true, optional: true })(SignedDataView.prototype, 'crls');
AsnProp({ type: SignerInfosView })(SignedDataView.prototype, 'signerInfos');

/** A Buffer view (no copy) of an ASN.1 value: OctetString, ArrayBuffer or typed array. */
function toBuf(ab: ArrayBuffer | ArrayBufferView | OctetString): Buffer {
  if (ab instanceof OctetString) return Buffer.from(ab.buffer);
  return ArrayBuffer.isView(ab) ? Buffer.from(ab.buffer, ab.byteOffset, ab.byteLength) : Buffer.from(ab);
}

/** The parts of a TimeStampResp a verifier needs, decoded and structurally checked. */
export interface ParsedTimestamp {
  tstInfo: TSTInfo;
  /** TSTInfo bytes exactly as received (what the message-digest attribute covers). */
  tstInfoDer: Buffer;
  signedData: SignedDataView;
  signerInfo: SignerInfoView;
  /** The signed attributes re-tagged as SET OF, exactly as signed. */
  signedAttrsDer: Buffer;
  attrs: Map<string, ArrayBuffer>;
  genTime: Date;
}

/** Decode a DER TimeStampResp, demand status granted, and pull out what verification needs. */
export function parseTimestampResponse(respDer: Uint8Array): ParsedTimestamp {
  let resp: TimeStampResp;
  try {
    assertDerFraming(respDer, 'timestamp response');
    if (respDer[0] !== 0x30) throw new SignetError('MALFORMED', 'timestamp response is not a SEQUENCE');
    resp = AsnParser.parse(respDer, TimeStampResp);
  } catch (e) {
    if (e instanceof SignetError) throw e;
    throw new SignetError('MALFORMED', 'timestamp is not a DER TimeStampResp', { cause: e });
  }
  const status = resp.status.status;
  if (status !== PKIStatus.granted && status !== PKIStatus.grantedWithMods) {
    const text = resp.status.statusString?.join('; ');
    fail(`timestamp authority refused the request (status ${status}${text ? `: ${text}` : ''})`);
  }
  if (!resp.timeStampToken) throw new SignetError('MALFORMED', 'timestamp response carries no timestamp token');
  return parseTimestampToken(resp.timeStampToken);
}

function parseTimestampToken(token: ContentInfo): ParsedTimestamp {
  const bad = (what: string, cause?: unknown): never => {
    throw new SignetError('MALFORMED', `timestamp token ${what}`, cause === undefined ? undefined : { cause });
  };
  if (token.contentType !== OID.signedData) bad(`has content type ${token.contentType}, not signed-data`);
  let sd: SignedDataView;
  try {
    sd = AsnParser.parse(token.content, SignedDataView);
  } catch (e) {
    return bad('is not CMS SignedData', e);
  }
  if (sd.encapContentInfo.eContentType !== OID.tstInfo) bad(`encapsulates ${sd.encapContentInfo.eContentType}, not TSTInfo`);
  const single = sd.encapContentInfo.eContent?.single;
  if (!single) bad('has no TSTInfo content');
  const tstInfoDer = toBuf(single!);
  let tstInfo: TSTInfo;
  try {
    assertDerFraming(tstInfoDer, 'TSTInfo');
    tstInfo = AsnParser.parse(tstInfoDer, TSTInfo);
  } catch (e) {
    if (e instanceof SignetError) throw e;
    return bad('has a TSTInfo that does not parse', e);
  }
  if (tstInfo.version !== 1) bad(`has TSTInfo version ${tstInfo.version}`);
  // RFC 5652 §5.1/§5.3: these fields are not signed, so only their single legal value is accepted.
  if (sd.version !== 3) bad(`has SignedData version ${sd.version}, not 3`);
  if (sd.signerInfos.length !== 1) bad(`has ${sd.signerInfos.length} signers, not exactly one`);
  const si = sd.signerInfos[0]!;
  const sidVersion = si.sid.subjectKeyIdentifier ? 3 : 1;
  if (si.version !== sidVersion) bad(`has SignerInfo version ${si.version}, not ${sidVersion}`);
  if (!sd.digestAlgorithms.some((a) => a.algorithm === si.digestAlgorithm.algorithm)) {
    bad('does not list its signer digest algorithm among its digest algorithms');
  }
  if (!si.signedAttrs || !si.signedAttrsRaw) bad('has no signed attributes');
  const signedAttrsDer = Buffer.from(new Uint8Array(si.signedAttrsRaw!));
  // The attributes are transmitted as [0] IMPLICIT but signed as a universal SET (RFC 5652 §5.4).
  signedAttrsDer[0] = 0x31;
  const attrs = new Map<string, ArrayBuffer>();
  for (const a of si.signedAttrs!) {
    if (attrs.has(a.attrType)) bad(`repeats signed attribute ${a.attrType}`);
    if (a.attrValues.length !== 1) bad(`has ${a.attrValues.length} values for signed attribute ${a.attrType}`);
    attrs.set(a.attrType, a.attrValues[0]!);
  }
  const genTime = tstInfo.genTime;
  if (!(genTime instanceof Date) || Number.isNaN(genTime.getTime())) bad('has no valid genTime');
  return { tstInfo, tstInfoDer, signedData: sd, signerInfo: si, signedAttrsDer, attrs, genTime };
}

/** A bare OBJECT IDENTIFIER as an attribute value (the content-type attribute). */
export class ObjectIdentifierValue {
  value = '';
  constructor(value = '') {
    this.value = value;
  }
}
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(ObjectIdentifierValue.prototype, 'value');
AsnType({ type: AsnTypeTypes.Choice })(ObjectIdentifierValue);

/** The TSTInfo nonce as a bigint (undefined if absent). */
export function integerValue(ab: ArrayBuffer | undefined): bigint | undefined {
  if (ab === undefined) return undefined;
  const b = toBuf(ab);
  if (b.length === 0) return 0n;
  let v = BigInt('0x' + b.toString('hex'));
  if (b[0]! & 0x80) v -= 1n << BigInt(b.length * 8);
  return v;
}
