/**
 * Sigstore bundles (protobuf-specs `dev.sigstore.bundle.v1.Bundle`, protojson form). Builders emit what
 * sigstore-go emits for key-based signing (camelCase, bytes as standard base64, empty lists and messages
 * left out); the parser is strict and keeps the bytes it was given, so nothing hashed is ever re-serialised.
 */
import { SignetError } from '../errors.js';
import { envelopeFromObject, type DsseEnvelope } from './dsse.js';
import { decodeBase64Strict, DIGEST_LENGTH, HASH_ALG_NAME, hashAlgFromName, type HashAlg } from './encoding.js';

export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Every media type we read, with the bundle version it denotes. */
export const BUNDLE_MEDIA_TYPES: Readonly<Record<string, BundleVersion>> = {
  [BUNDLE_V03_MEDIA_TYPE]: '0.3',
  'application/vnd.dev.sigstore.bundle+json;version=0.3': '0.3',
  'application/vnd.dev.sigstore.bundle+json;version=0.2': '0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.1': '0.1',
};

export type BundleVersion = '0.1' | '0.2' | '0.3';

/**
 * A tlog entry in protojson form (protobuf-specs `TransparencyLogEntry`: int64 as strings, bytes as base64),
 * kept as parsed and never rebuilt. Only the fields the parser insists on are typed as present.
 */
export interface TlogEntryJSON {
  logIndex: string | number;
  logId: { keyId?: string };
  kindVersion: { kind?: string; version?: string };
  integratedTime?: string | number;
  inclusionPromise?: { signedEntryTimestamp?: string };
  inclusionProof?: { logIndex?: string | number; rootHash?: string; treeSize?: string | number; hashes?: string[]; checkpoint?: { envelope?: string } };
  canonicalizedBody: string;
  [field: string]: unknown;
}

export interface VerificationMaterialInput {
  /** Key-based signing: base64 sha256 of the DER SubjectPublicKeyInfo (cosign and sigstore-go). */
  publicKeyHint?: string;
  /** Keyless signing: the DER leaf certificate. Exactly one of publicKeyHint / certificate. */
  certificate?: Buffer;
  /** Already-serialised (protojson) transparency log entries, included as given. */
  tlogEntries?: unknown[];
  /** DER RFC 3161 TimeStampResp blobs. */
  rfc3161Timestamps?: Buffer[];
}

function verificationMaterial(m: VerificationMaterialInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if ((m.publicKeyHint === undefined) === (m.certificate === undefined)) {
    throw new SignetError('INTERNAL', 'a bundle needs exactly one of a public key hint or a certificate');
  }
  if (m.certificate !== undefined) out.certificate = { rawBytes: m.certificate.toString('base64') };
  // protojson leaves an empty string out, so an empty hint is an empty message.
  else out.publicKey = m.publicKeyHint ? { hint: m.publicKeyHint } : {};
  if (m.tlogEntries && m.tlogEntries.length > 0) out.tlogEntries = m.tlogEntries;
  if (m.rfc3161Timestamps && m.rfc3161Timestamps.length > 0) {
    out.timestampVerificationData = { rfc3161Timestamps: m.rfc3161Timestamps.map((t) => ({ signedTimestamp: t.toString('base64') })) };
  }
  return out;
}

export interface MessageSignatureBundleInput extends VerificationMaterialInput {
  digest: Buffer;
  hashAlg: HashAlg;
  signature: Buffer;
}

/** A v0.3 bundle over a raw message signature (`sign-blob`). Returns the exact bytes to store. */
export function buildMessageSignatureBundle(input: MessageSignatureBundleInput): Buffer {
  if (input.digest.length !== DIGEST_LENGTH[input.hashAlg]) {
    throw new SignetError('INTERNAL', `a ${input.hashAlg} digest has ${DIGEST_LENGTH[input.hashAlg]} bytes, got ${input.digest.length}`);
  }
  const bundle = {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: verificationMaterial(input),
    messageSignature: {
      messageDigest: { algorithm: HASH_ALG_NAME[input.hashAlg], digest: input.digest.toString('base64') },
      signature: input.signature.toString('base64'),
    },
  };
  return Buffer.from(JSON.stringify(bundle), 'utf8');
}

export interface DsseBundleInput extends VerificationMaterialInput {
  envelope: DsseEnvelope;
}

/** A v0.3 bundle around a DSSE envelope (`sign`, `attest`, `attest-blob`). */
export function buildDsseBundle(input: DsseBundleInput): Buffer {
  if (input.envelope.signatures.length !== 1) throw new SignetError('INTERNAL', 'a bundle envelope carries exactly one signature');
  const bundle = {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: verificationMaterial(input),
    dsseEnvelope: {
      payload: input.envelope.payload.toString('base64'),
      payloadType: input.envelope.payloadType,
      signatures: input.envelope.signatures.map((s) => (s.keyid ? { sig: s.sig.toString('base64'), keyid: s.keyid } : { sig: s.sig.toString('base64') })),
    },
  };
  return Buffer.from(JSON.stringify(bundle), 'utf8');
}

export type BundleContent =
  | { kind: 'messageSignature'; hashAlg: HashAlg; digest: Buffer; signature: Buffer }
  | {
      kind: 'dsse';
      envelope: DsseEnvelope;
      /** The envelope object exactly as it appeared in the bundle (for tlog body comparison). */
      rawEnvelope: Record<string, unknown>;
      payload: Buffer;
      payloadType: string;
      signature: Buffer;
    };

export type VerificationMaterialKind =
  | { kind: 'publicKey'; hint: string }
  | { kind: 'certificate'; certificate: Buffer }
  | { kind: 'x509CertificateChain'; certificates: Buffer[] };

export interface ParsedBundle {
  /** The bytes as read; hash these, never a re-serialisation. */
  raw: Buffer;
  mediaType: string;
  version: BundleVersion;
  content: BundleContent;
  verificationMaterial: VerificationMaterialKind;
  /** Transparency log entries as parsed JSON (checked structurally only; the log layer verifies them). */
  tlogEntries: TlogEntryJSON[];
  /** DER TimeStampResp of every RFC 3161 timestamp. */
  rfc3161Timestamps: Buffer[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function malformed(msg: string): SignetError {
  return new SignetError('MALFORMED', `bundle ${msg}`);
}

/** protojson rejects unknown fields; so do we, naming the first one. */
function onlyFields(o: Obj, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw malformed(`has an unknown field "${k}" in ${where}`);
}

function obj(v: unknown, where: string): Obj {
  if (!isObj(v)) throw malformed(`${where} is not an object`);
  return v;
}

function b64(v: unknown, where: string, nonEmpty = true): Buffer {
  if (typeof v !== 'string') throw malformed(`${where} is missing or not a string`);
  const buf = decodeBase64Strict(v, `bundle ${where}`);
  if (nonEmpty && buf.length === 0) throw malformed(`${where} is empty`);
  return buf;
}

export function isBundleMediaType(mt: string): boolean {
  return Object.prototype.hasOwnProperty.call(BUNDLE_MEDIA_TYPES, mt);
}

/** Parse a bundle strictly. Every structural problem is a MALFORMED SignetError naming the field. */
export function parseBundle(bytes: Buffer): ParsedBundle {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', 'bundle is not valid JSON');
  }
  const root = obj(doc, 'document');
  onlyFields(root, ['mediaType', 'verificationMaterial', 'messageSignature', 'dsseEnvelope'], 'the bundle');
  if (typeof root.mediaType !== 'string') throw malformed('has no mediaType');
  const version = BUNDLE_MEDIA_TYPES[root.mediaType];
  if (version === undefined || !isBundleMediaType(root.mediaType)) throw malformed(`media type "${root.mediaType}" is not a supported Sigstore bundle version`);

  const hasMsg = root.messageSignature !== undefined && root.messageSignature !== null;
  const hasDsse = root.dsseEnvelope !== undefined && root.dsseEnvelope !== null;
  if (hasMsg === hasDsse) throw malformed(hasMsg ? 'has both messageSignature and dsseEnvelope' : 'has neither messageSignature nor dsseEnvelope');
  const content = hasMsg ? parseMessageSignature(root.messageSignature) : parseDsse(root.dsseEnvelope);

  const vm = obj(root.verificationMaterial, 'verificationMaterial');
  onlyFields(vm, ['publicKey', 'certificate', 'x509CertificateChain', 'tlogEntries', 'timestampVerificationData'], 'verificationMaterial');
  const kinds = (['publicKey', 'certificate', 'x509CertificateChain'] as const).filter((k) => vm[k] !== undefined && vm[k] !== null);
  if (kinds.length !== 1) {
    throw malformed(kinds.length === 0 ? 'verificationMaterial has no publicKey, certificate or x509CertificateChain' : `verificationMaterial has both ${kinds.join(' and ')}`);
  }
  let material: VerificationMaterialKind;
  switch (kinds[0]!) {
    case 'publicKey': {
      const pk = obj(vm.publicKey, 'verificationMaterial.publicKey');
      onlyFields(pk, ['hint'], 'verificationMaterial.publicKey');
      if (pk.hint !== undefined && typeof pk.hint !== 'string') throw malformed('verificationMaterial.publicKey.hint is not a string');
      material = { kind: 'publicKey', hint: (pk.hint as string | undefined) ?? '' };
      break;
    }
    case 'certificate': {
      const c = obj(vm.certificate, 'verificationMaterial.certificate');
      onlyFields(c, ['rawBytes'], 'verificationMaterial.certificate');
      material = { kind: 'certificate', certificate: b64(c.rawBytes, 'verificationMaterial.certificate.rawBytes') };
      break;
    }
    case 'x509CertificateChain': {
      const c = obj(vm.x509CertificateChain, 'verificationMaterial.x509CertificateChain');
      onlyFields(c, ['certificates'], 'verificationMaterial.x509CertificateChain');
      if (!Array.isArray(c.certificates) || c.certificates.length === 0) throw malformed('verificationMaterial.x509CertificateChain has no certificates');
      material = {
        kind: 'x509CertificateChain',
        certificates: c.certificates.map((x: unknown, i: number) => {
          const o = obj(x, `certificate ${i} of the chain`);
          onlyFields(o, ['rawBytes'], `certificate ${i} of the chain`);
          return b64(o.rawBytes, `x509CertificateChain.certificates[${i}].rawBytes`);
        }),
      };
      break;
    }
  }

  const tlogEntries = parseTlogEntries(vm.tlogEntries, version);
  const rfc3161Timestamps = parseTimestamps(vm.timestampVerificationData);
  return { raw: bytes, mediaType: root.mediaType, version, content, verificationMaterial: material, tlogEntries, rfc3161Timestamps };
}

function parseMessageSignature(v: unknown): BundleContent {
  const ms = obj(v, 'messageSignature');
  onlyFields(ms, ['messageDigest', 'signature'], 'messageSignature');
  const signature = b64(ms.signature, 'messageSignature.signature');
  // messageDigest is optional in the proto; we require it because it is what binds the bundle to an artifact digest.
  const md = obj(ms.messageDigest, 'messageSignature.messageDigest');
  onlyFields(md, ['algorithm', 'digest'], 'messageSignature.messageDigest');
  const hashAlg = hashAlgFromName(md.algorithm, 'bundle messageSignature.messageDigest');
  const digest = b64(md.digest, 'messageSignature.messageDigest.digest');
  if (digest.length !== DIGEST_LENGTH[hashAlg]) {
    throw malformed(`messageSignature.messageDigest has ${digest.length} bytes, a ${HASH_ALG_NAME[hashAlg]} digest has ${DIGEST_LENGTH[hashAlg]}`);
  }
  return { kind: 'messageSignature', hashAlg, digest, signature };
}

function parseDsse(v: unknown): BundleContent {
  const raw = obj(v, 'dsseEnvelope');
  onlyFields(raw, ['payload', 'payloadType', 'signatures'], 'dsseEnvelope');
  const envelope = envelopeFromObject(raw, 'bundle dsseEnvelope');
  // protobuf-specs: a bundle's envelope carries exactly one signature.
  if (envelope.signatures.length !== 1) throw malformed(`dsseEnvelope has ${envelope.signatures.length} signatures, expected exactly one`);
  for (const [i, s] of (raw.signatures as unknown[]).entries()) onlyFields(s as Obj, ['sig', 'keyid'], `dsseEnvelope signature ${i}`);
  return { kind: 'dsse', envelope, rawEnvelope: raw, payload: envelope.payload, payloadType: envelope.payloadType, signature: envelope.signatures[0]!.sig };
}

// The parser has to decode every canonicalizedBody to check it; the log layer needs the same bytes.
// Keyed on the entry object and tied to the exact string decoded, so an entry edited after parsing is
// decoded afresh rather than served stale bytes.
const decodedBodies = new WeakMap<object, { b64: string; body: Buffer }>();

/** The decoded canonicalizedBody of an entry returned by `parseBundle`, if it has not changed since. */
export function parsedEntryBody(entry: TlogEntryJSON): Buffer | undefined {
  const d = decodedBodies.get(entry);
  return d && d.b64 === entry.canonicalizedBody ? d.body : undefined;
}

function parseTlogEntries(v: unknown, version: BundleVersion): TlogEntryJSON[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw malformed('verificationMaterial.tlogEntries is not a list');
  return v.map((e: unknown, i: number) => {
    const o = obj(e, `tlog entry ${i}`);
    // No logIndex is not an omission: proto3 JSON leaves out zero integers, so entry 0 has none.
    for (const f of ['logId', 'kindVersion', 'canonicalizedBody']) {
      if (o[f] === undefined) throw malformed(`tlog entry ${i} has no ${f}`);
    }
    if (typeof o.canonicalizedBody !== 'string') throw malformed(`tlog entry ${i} canonicalizedBody is not a string`);
    decodedBodies.set(o, { b64: o.canonicalizedBody, body: b64(o.canonicalizedBody, `tlog entry ${i} canonicalizedBody`) });
    // v0.1 bundles rely on the promise (SET); later versions must carry an inclusion proof.
    if (version === '0.1' && !isObj(o.inclusionPromise)) throw malformed(`tlog entry ${i} has no inclusionPromise (required in a v0.1 bundle)`);
    if (version !== '0.1' && !isObj(o.inclusionProof)) throw malformed(`tlog entry ${i} has no inclusionProof (required in a v${version} bundle)`);
    return o as unknown as TlogEntryJSON;
  });
}

function parseTimestamps(v: unknown): Buffer[] {
  if (v === undefined || v === null) return [];
  const tvd = obj(v, 'verificationMaterial.timestampVerificationData');
  onlyFields(tvd, ['rfc3161Timestamps'], 'timestampVerificationData');
  if (tvd.rfc3161Timestamps === undefined || tvd.rfc3161Timestamps === null) return [];
  if (!Array.isArray(tvd.rfc3161Timestamps)) throw malformed('timestampVerificationData.rfc3161Timestamps is not a list');
  return tvd.rfc3161Timestamps.map((t: unknown, i: number) => {
    const o = obj(t, `RFC 3161 timestamp ${i}`);
    onlyFields(o, ['signedTimestamp'], `RFC 3161 timestamp ${i}`);
    return b64(o.signedTimestamp, `RFC 3161 timestamp ${i} signedTimestamp`);
  });
}
