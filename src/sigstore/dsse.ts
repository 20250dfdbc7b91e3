/**
 * DSSE (Dead Simple Signing Envelope) v1: the pre-authentication encoding that is actually signed, and
 * the envelope that carries payload and signatures. Payload bytes are kept exactly as signed.
 */
import { SignetError } from '../errors.js';
import type { LocalSigner, Signer } from '../keys/index.js';
import { decodeBase64Strict } from './encoding.js';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface DsseSignature {
  sig: Buffer;
  /** Optional and unauthenticated; cosign writes "" (legacy) or leaves it out (bundles). */
  keyid?: string;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: DsseSignature[];
}

/** DSSEv1 PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths as ASCII decimal byte counts. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  const head = Buffer.from(`DSSEv1 ${type.length} `, 'latin1');
  const mid = Buffer.from(` ${payload.length} `, 'latin1');
  return Buffer.concat([head, type, mid, payload]);
}

/** Sign `payload` as a DSSE envelope with one signature and no key id (what sigstore-go puts in bundles). */
export function signDsse(signer: LocalSigner, payloadType: string, payload: Buffer): DsseEnvelope;
export function signDsse(signer: Signer, payloadType: string, payload: Buffer): DsseEnvelope | Promise<DsseEnvelope>;
export function signDsse(signer: Signer, payloadType: string, payload: Buffer): DsseEnvelope | Promise<DsseEnvelope> {
  const envelope = (sig: Buffer): DsseEnvelope => ({ payloadType, payload, signatures: [{ sig }] });
  const sig = signer.sign(pae(payloadType, payload));
  return sig instanceof Promise ? sig.then(envelope) : envelope(sig);
}

/**
 * The envelope as go-securesystemslib serialises it (field order payloadType, payload, signatures with
 * `keyid` first), which is what legacy `.att` layers and `attest-blob --output-attestation` hold.
 */
export function envelopeToJSON(env: DsseEnvelope): Buffer {
  const sigs = env.signatures.map((s) => ({ keyid: s.keyid ?? '', sig: s.sig.toString('base64') }));
  return Buffer.from(JSON.stringify({ payloadType: env.payloadType, payload: env.payload.toString('base64'), signatures: sigs }), 'utf8');
}

/** Parse a stand-alone DSSE envelope (JSON). The payload is returned as the decoded bytes, untouched. */
export function parseEnvelope(bytes: Buffer, what = 'DSSE envelope'): DsseEnvelope {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', `${what} is not valid JSON`);
  }
  return envelopeFromObject(doc, what);
}

/** Validate an already-parsed envelope object (as found inside a bundle). */
export function envelopeFromObject(doc: unknown, what: string): DsseEnvelope {
  if (!isObject(doc)) throw new SignetError('MALFORMED', `${what} is not a JSON object`);
  if (typeof doc.payloadType !== 'string' || doc.payloadType === '') {
    throw new SignetError('MALFORMED', `${what} has no payloadType`);
  }
  if (typeof doc.payload !== 'string') throw new SignetError('MALFORMED', `${what} has no payload`);
  const payload = decodeBase64Strict(doc.payload, `${what} payload`);
  if (!Array.isArray(doc.signatures) || doc.signatures.length === 0) {
    throw new SignetError('MALFORMED', `${what} has no signatures`);
  }
  const signatures = doc.signatures.map((s: unknown, i: number): DsseSignature => {
    if (!isObject(s) || typeof s.sig !== 'string') throw new SignetError('MALFORMED', `${what} signature ${i} has no "sig"`);
    const sig = decodeBase64Strict(s.sig, `${what} signature ${i}`);
    if (sig.length === 0) throw new SignetError('MALFORMED', `${what} signature ${i} is empty`);
    if (s.keyid !== undefined && typeof s.keyid !== 'string') throw new SignetError('MALFORMED', `${what} signature ${i} has a non-string keyid`);
    return s.keyid === undefined ? { sig } : { sig, keyid: s.keyid };
  });
  return { payloadType: doc.payloadType, payload, signatures };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
