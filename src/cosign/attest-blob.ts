/**
 * Attesting a blob (`attest-blob`): an in-toto statement (built from a predicate, or given whole) signed
 * as a DSSE envelope — with a key, into a Sigstore bundle (v0.3, a `dsse` entry in Rekor v1, or Rekor v2)
 * or cosign's legacy LocalSignedPayload; keyless, into a bundle carrying the certificate, the log entries
 * and the RFC 3161 timestamps. The log is written first and nothing is returned until every step has
 * succeeded: callers store the results only then. Nothing here writes files or prints.
 */
import { basename } from 'node:path';
import { SignetError } from '../errors.js';
import type { Signer } from '../keys/index.js';
import { buildDsseBundle, envelopeToJSON, IN_TOTO_PAYLOAD_TYPE, pae, signDsse, type DsseEnvelope, type TlogEntryJSON } from '../sigstore/index.js';
import { dsseV001, RekorV1Client, rekorBundleAnnotation, uploadToTlog, type TlogTarget } from '../sigstore/rekor-client.js';
import { signDsseKeyless } from '../sigstore/sign-keyless.js';
import { requestTimestamp, type TsaTlsOptions } from '../sigstore/tsa-client.js';
import { checkBlobTlog, type SignBlobOptions } from './sign-blob.js';
import { buildAttestationStatement, checkStatementFile } from './predicate.js';

/** cosign names a blob's subject by the path's base name (`-` for standard input stays `-`). */
export function blobSubjectName(path: string): string {
  return path === '-' ? '-' : basename(path);
}

export interface BlobStatementInput {
  /** The blob's path as the user gave it: the subject's name is its base name. */
  path: string;
  /** sha256 of the blob (hex): computed from the file, or `--hash`. */
  sha256Hex: string;
  /** `--type` (default custom). */
  type?: string;
  /** The predicate file's bytes. */
  predicate: Buffer;
  now?: Date;
}

/** The statement `attest-blob --predicate` signs (cosign's GenerateStatement for a blob). */
export function blobAttestationStatement(input: BlobStatementInput): Buffer {
  return buildAttestationStatement({
    type: input.type ?? 'custom',
    predicate: input.predicate,
    name: blobSubjectName(input.path),
    sha256Hex: input.sha256Hex,
    ...(input.now ? { now: input.now } : {}),
  });
}

export type AttestBlobOptions = SignBlobOptions;

export interface BlobAttestation {
  /** The signed statement, byte for byte. */
  statement: Buffer;
  envelope: DsseEnvelope;
  /** The envelope as cosign prints it (`--output-signature`, stdout): go-securesystemslib's JSON. */
  envelopeJson: Buffer;
  tlogEntries: TlogEntryJSON[];
  /** DER TimeStampResp, one per TSA. */
  timestamps: Buffer[];
  /** The Sigstore bundle bytes; absent in the legacy format. */
  bundle?: Buffer;
  /** Legacy format: the Rekor v1 bundle of the entry created, when logged. */
  rekorBundle?: Record<string, unknown>;
  /** Legacy format: cosign's LocalSignedPayload JSON (the envelope JSON as base64Signature). */
  legacyBundle?: string;
}

/** Sign an in-toto statement for a blob, log it (and timestamp it, keyless) and build what is to be stored. */
export async function attestBlob(statement: Buffer, o: AttestBlobOptions): Promise<BlobAttestation> {
  checkStatementFile(statement, 'to sign');
  if ('keyless' in o) {
    const r = await signDsseKeyless(o.keyless, IN_TOTO_PAYLOAD_TYPE, statement);
    const envelope = r.envelope;
    return { statement, envelope, envelopeJson: envelopeToJSON(envelope), tlogEntries: r.tlogEntries, timestamps: r.timestamps, bundle: r.bundle };
  }
  return attestBlobWithKey(statement, o.signer, o.tlog, o.newBundleFormat !== false, o);
}

async function attestBlobWithKey(statement: Buffer, signer: Signer, tlog: TlogTarget | undefined, newBundleFormat: boolean, o: { timestampUrls?: string[]; timestampTls?: TsaTlsOptions }): Promise<BlobAttestation> {
  checkBlobTlog(tlog, newBundleFormat);
  const timestampUrls = o.timestampUrls ?? [];
  if (!newBundleFormat && timestampUrls.length > 0) throw new SignetError('USAGE', 'the legacy attestation bundle has no place for an RFC 3161 timestamp: use --new-bundle-format, or leave the timestamp authority out');
  const envelope = await signDsse(signer, IN_TOTO_PAYLOAD_TYPE, statement);
  const signature = envelope.signatures[0]!.sig;
  const envelopeJson = envelopeToJSON(envelope);

  // Log and timestamp first: when either fails, nothing is returned to be written.
  const timestamped = Promise.all(timestampUrls.map((url) => requestTimestamp(url, signature, o.timestampTls ? { tls: o.timestampTls } : {})));
  let tlogEntries: TlogEntryJSON[] = [];
  let rekorBundle: Record<string, unknown> | undefined;
  if (tlog && newBundleFormat) {
    tlogEntries = [await uploadToTlog(tlog, { kind: 'dsse', envelopeJson: envelopeJson.toString('utf8'), pae: pae(envelope.payloadType, envelope.payload), signature, key: signer.publicKey })];
  } else if (tlog) {
    const { entry } = await new RekorV1Client({ baseUrl: tlog.url }).createEntry(dsseV001({ envelopeJson: envelopeJson.toString('utf8'), verifierPems: [signer.publicKey.pem] }));
    rekorBundle = JSON.parse(rekorBundleAnnotation(entry)) as Record<string, unknown>;
  }
  const timestamps = await timestamped;
  if (newBundleFormat) {
    const bundle = buildDsseBundle({ envelope, publicKeyHint: signer.publicKey.hint, tlogEntries, rfc3161Timestamps: timestamps });
    return { statement, envelope, envelopeJson, tlogEntries, timestamps, bundle };
  }
  // cosign's LocalSignedPayload: the signature is the whole envelope JSON; `cert` holds the public key PEM.
  const legacy = {
    base64Signature: envelopeJson.toString('base64'),
    cert: Buffer.from(signer.publicKey.pem).toString('base64'),
    ...(rekorBundle ? { rekorBundle } : {}),
  };
  return { statement, envelope, envelopeJson, tlogEntries, timestamps: [], ...(rekorBundle ? { rekorBundle } : {}), legacyBundle: JSON.stringify(legacy) };
}

/** `--hash`: the blob's sha256 in hex, given instead of the blob. */
export function checkSha256Hex(hex: string, flag = '--hash'): string {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new SignetError('USAGE', `${flag} "${hex}" is not a sha256 hex digest (64 hexadecimal characters)`);
  return hex.toLowerCase();
}
