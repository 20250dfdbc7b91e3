/**
 * `signet bundle create`, as cosign's: a Sigstore bundle (v0.3, message signature) assembled from pieces
 * made elsewhere — a signature over an artifact (openssl, an HSM, an older cosign), the public key or
 * the signing certificate, RFC 3161 timestamps, and the log entry, looked up in a Rekor v1 log by the
 * artifact's hash. The signature is checked against the key before anything is looked up, and the log
 * entry must be for this very signature and verifier, so the bundle written verifies with `verify-blob`.
 * `createAttestationBundle` does the same for a signed DSSE envelope (cosign's `--attestation`): a DSSE
 * bundle whose log entry is the `dsse` (or `intoto`) entry recording that envelope's signature, for
 * `verify-blob-attestation`. Nothing here writes files.
 */
import { createHash } from 'node:crypto';
import { SignetError } from '../errors.js';
import { decodePemBlocks, parsePublicKey, verifySignature, type PublicKeyInfo } from '../keys/index.js';
import { buildDsseBundle, buildMessageSignatureBundle, type TlogEntryJSON } from '../sigstore/index.js';
import { pae, parseEnvelope } from '../sigstore/dsse.js';
import { parseStatement } from '../sigstore/intoto.js';
import { decodeBase64Strict } from '../sigstore/encoding.js';
import { RekorV1Client, v1EntryToBundleEntry, type V1LogEntry } from '../sigstore/rekor-client.js';
import { parseCertificate } from '../sigstore/certificate.js';
import { hashAlgFromOid, readTimestampAnswer } from '../sigstore/timestamp-verify.js';
import { messageDigestAlg } from './sign-blob.js';

export interface CreateBundleOptions {
  /** The signed artifact's bytes. */
  artifact: Buffer;
  /** The raw signature over the artifact. */
  signature: Buffer;
  /** The signer's public key; with `certificate`, the certificate must certify it. */
  key?: PublicKeyInfo;
  /** The signing certificate (DER): the bundle carries it instead of a key hint. */
  certificate?: Buffer;
  /** DER RFC 3161 TimeStampResp blobs over the signature. */
  rfc3161Timestamps?: Buffer[];
  /** Rekor v1 log to find the signature's hashedrekord entry in; none: the bundle carries no log entry. */
  rekorUrl?: string;
}

/** How many entries with the artifact's hash are read looking for ours. */
const MAX_CANDIDATES = 64;

export async function createBundle(o: CreateBundleOptions): Promise<{ bundle: Buffer; tlogEntry?: TlogEntryJSON }> {
  if (!o.key && !o.certificate) throw new SignetError('USAGE', 'bundle create needs the verifier: pass --key or --certificate');
  if (o.signature.length === 0) throw new SignetError('USAGE', 'the signature is empty');
  const certKey = o.certificate ? certificateKey(o.certificate) : undefined;
  if (o.key && certKey && !certKey.spkiDer.equals(o.key.spkiDer)) {
    throw new SignetError('USAGE', '--certificate certifies a different public key than --key');
  }
  const key = (o.key ?? certKey)!;
  if (!verifySignature(key, o.artifact, o.signature)) {
    throw new SignetError('VERIFICATION', `the signature does not verify over the artifact with the ${o.certificate ? 'certificate' : 'key'} given`);
  }
  for (const ts of o.rfc3161Timestamps ?? []) {
    const answer = readTimestampAnswer(ts);
    const alg = hashAlgFromOid(answer.imprintAlg);
    if (!alg || !createHash(alg).update(o.signature).digest().equals(answer.imprint)) {
      throw new SignetError('VERIFICATION', 'the RFC 3161 timestamp is for other data than this signature');
    }
  }
  const hashAlg = messageDigestAlg(key);
  const digest = createHash(hashAlg).update(o.artifact).digest();
  let tlogEntry: TlogEntryJSON | undefined;
  if (o.rekorUrl) tlogEntry = v1EntryToBundleEntry(await findEntry(o.rekorUrl, hashAlg, digest, o.signature, key, o.certificate));
  const material = o.certificate ? { certificate: o.certificate } : { publicKeyHint: key.hint };
  const bundle = buildMessageSignatureBundle({
    digest,
    hashAlg,
    signature: o.signature,
    ...material,
    tlogEntries: tlogEntry ? [tlogEntry] : [],
    rfc3161Timestamps: o.rfc3161Timestamps ?? [],
  });
  return { bundle, ...(tlogEntry ? { tlogEntry } : {}) };
}

export interface CreateAttestationBundleOptions {
  /** The DSSE envelope file's bytes (JSON, one signature). */
  envelope: Buffer;
  /** The artifact the statement is about: when given, the statement must name its sha256. */
  artifact?: Buffer;
  key?: PublicKeyInfo;
  certificate?: Buffer;
  rfc3161Timestamps?: Buffer[];
  rekorUrl?: string;
}

/** `bundle create --attestation`: a v0.3 DSSE bundle around a signed envelope made elsewhere. */
export async function createAttestationBundle(o: CreateAttestationBundleOptions): Promise<{ bundle: Buffer; tlogEntry?: TlogEntryJSON }> {
  if (!o.key && !o.certificate) throw new SignetError('USAGE', 'bundle create needs the verifier: pass --key or --certificate');
  const envelope = parseEnvelope(o.envelope, '--attestation');
  if (envelope.signatures.length !== 1) {
    throw new SignetError('USAGE', `--attestation holds ${envelope.signatures.length} signatures; a bundle carries one: give an envelope with only the signature to bundle`);
  }
  const key = verifierKey(o.key, o.certificate);
  const signature = envelope.signatures[0]!.sig;
  if (!verifySignature(key, pae(envelope.payloadType, envelope.payload), signature)) {
    throw new SignetError('VERIFICATION', `the envelope's signature does not verify with the ${o.certificate ? 'certificate' : 'key'} given`);
  }
  if (o.artifact) {
    let subjects: Array<{ digest: Record<string, string> }>;
    try {
      subjects = parseStatement(envelope.payload).subject;
    } catch (e) {
      throw new SignetError('VERIFICATION', `--attestation: the payload is not an in-toto statement: ${(e as Error).message}`);
    }
    const hex = createHash('sha256').update(o.artifact).digest('hex');
    if (!subjects.some((s) => s.digest.sha256 === hex)) throw new SignetError('VERIFICATION', `the statement does not name the artifact (sha256:${hex}) among its subjects`);
  }
  checkTimestamps(o.rfc3161Timestamps ?? [], signature);
  let tlogEntry: TlogEntryJSON | undefined;
  if (o.rekorUrl) tlogEntry = v1EntryToBundleEntry(await findDsseEntry(o.rekorUrl, envelope.payload, signature, key, o.certificate));
  const material = o.certificate ? { certificate: o.certificate } : { publicKeyHint: key.hint };
  const bundle = buildDsseBundle({ envelope, ...material, tlogEntries: tlogEntry ? [tlogEntry] : [], rfc3161Timestamps: o.rfc3161Timestamps ?? [] });
  return { bundle, ...(tlogEntry ? { tlogEntry } : {}) };
}

function verifierKey(key: PublicKeyInfo | undefined, certificate: Buffer | undefined): PublicKeyInfo {
  const certKey = certificate ? certificateKey(certificate) : undefined;
  if (key && certKey && !certKey.spkiDer.equals(key.spkiDer)) throw new SignetError('USAGE', '--certificate certifies a different public key than --key');
  return (key ?? certKey)!;
}

function checkTimestamps(timestamps: Buffer[], signature: Buffer): void {
  for (const ts of timestamps) {
    const answer = readTimestampAnswer(ts);
    const alg = hashAlgFromOid(answer.imprintAlg);
    if (!alg || !createHash(alg).update(signature).digest().equals(answer.imprint)) {
      throw new SignetError('VERIFICATION', 'the RFC 3161 timestamp is for other data than this signature');
    }
  }
}

interface DsseBody {
  kind?: unknown;
  spec?: {
    payloadHash?: { algorithm?: unknown; value?: unknown };
    signatures?: Array<{ signature?: unknown; verifier?: unknown }>;
    content?: { payloadHash?: { value?: unknown }; envelope?: { signatures?: Array<{ sig?: unknown; publicKey?: unknown }> } };
  };
}

/**
 * The `dsse` (or `intoto` v0.0.2) entry recording this envelope's payload with exactly this signature by
 * this verifier, found through the payload's sha256, which both kinds index.
 */
async function findDsseEntry(url: string, payload: Buffer, signature: Buffer, key: PublicKeyInfo, certificate?: Buffer): Promise<V1LogEntry> {
  const hex = createHash('sha256').update(payload).digest('hex');
  const sig64 = signature.toString('base64');
  const verifiersOf = (found: unknown): string[] => {
    const body = found as DsseBody;
    // dsse 0.0.1: spec.signatures[{signature, verifier}]; intoto 0.0.2: spec.content.envelope.signatures[{sig (base64 of base64), publicKey}].
    let pairs: Array<{ sig: string; verifier: unknown }> = [];
    const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);
    if (body.kind === 'dsse' && body.spec?.payloadHash?.value === hex) {
      pairs = list(body.spec.signatures).map((x) => ({ sig: String(x?.signature ?? ''), verifier: x?.verifier }));
    } else if (body.kind === 'intoto' && body.spec?.content?.payloadHash?.value === hex) {
      pairs = list(body.spec.content.envelope?.signatures).map((x) => ({ sig: typeof x?.sig === 'string' ? Buffer.from(x.sig, 'base64').toString('utf8') : '', verifier: x?.publicKey }));
    }
    return pairs.filter((p) => p.sig === sig64).map((p) => (typeof p.verifier === 'string' ? Buffer.from(p.verifier, 'base64').toString('utf8') : ''));
  };
  return findLoggedSignature(url, `sha256:${hex}`, verifiersOf, key, certificate, { what: "this envelope's signature", logWith: 'attest-blob' });
}

function certificateKey(der: Buffer): PublicKeyInfo {
  const cert = parseCertificate(der, 'signing certificate');
  return parsePublicKey(Buffer.from(`-----BEGIN PUBLIC KEY-----\n${cert.spki.toString('base64')}\n-----END PUBLIC KEY-----\n`));
}

interface HashedRekordBody {
  kind?: unknown;
  spec?: { data?: { hash?: { algorithm?: unknown; value?: unknown } }; signature?: { content?: unknown; publicKey?: { content?: unknown } } };
}

/**
 * The hashedrekord entry recording exactly this signature over this digest, by this verifier (the
 * certificate when one is given, else the key): what `verify-blob` will compare the bundle against.
 */
async function findEntry(url: string, hashAlg: string, digest: Buffer, signature: Buffer, key: PublicKeyInfo, certificate?: Buffer): Promise<V1LogEntry> {
  const hex = digest.toString('hex');
  const verifiersOf = (found: unknown): string[] => {
    const body = found as HashedRekordBody;
    const spec = body.spec;
    if (body.kind !== 'hashedrekord' || spec?.data?.hash?.value !== hex || spec.data.hash.algorithm !== hashAlg) return [];
    if (typeof spec.signature?.content !== 'string' || !Buffer.from(spec.signature.content, 'base64').equals(signature)) return [];
    return [typeof spec.signature.publicKey?.content === 'string' ? Buffer.from(spec.signature.publicKey.content, 'base64').toString('utf8') : ''];
  };
  return findLoggedSignature(url, `${hashAlg}:${hex}`, verifiersOf, key, certificate, { what: 'this signature', logWith: 'sign-blob' });
}

/**
 * The log entry, among those the search key `hash` finds, that records the signature by this verifier
 * (the certificate when one is given, else the key). `verifiersOf` gives the PEM verifiers a candidate's
 * body records with exactly this signature (none for any other entry). A candidate recording it by
 * another verifier is a TLOG error naming the mismatch; none at all is NOT_FOUND, suggesting `logWith`.
 */
async function findLoggedSignature(
  url: string,
  hash: string,
  verifiersOf: (body: unknown) => string[],
  key: PublicKeyInfo,
  certificate: Buffer | undefined,
  text: { what: string; logWith: string },
): Promise<V1LogEntry> {
  const rekor = new RekorV1Client({ baseUrl: url });
  const uuids = await rekor.searchIndex({ hash });
  let otherVerifier = false;
  for (const uuid of uuids.slice(0, MAX_CANDIDATES)) {
    const entry = await rekor.getByUuid(uuid);
    let body: unknown;
    try {
      body = JSON.parse(decodeBase64Strict(entry.body, 'log entry body').toString('utf8'));
    } catch {
      continue;
    }
    // A body that is not a JSON object records nothing (no log writes one; a candidate is skipped, not a crash).
    if (typeof body !== 'object' || body === null || Array.isArray(body)) continue;
    for (const verifier of verifiersOf(body)) {
      if (sameVerifier(verifier, key, certificate)) return entry;
      otherVerifier = true;
    }
  }
  if (otherVerifier) {
    throw new SignetError('TLOG', `the log at ${url} records ${text.what} with ${certificate ? 'a public key instead of the certificate given' : 'a certificate: pass it with --certificate'}`);
  }
  throw new SignetError('NOT_FOUND', `the log at ${url} has no entry for ${text.what} (log it first, e.g. ${text.logWith} --rekor-url, or pass --ignore-tlog)`);
}

function sameVerifier(pem: string, key: PublicKeyInfo, certificate?: Buffer): boolean {
  const block = decodePemBlocks(pem)[0];
  if (!block) return false;
  if (certificate) return block.label === 'CERTIFICATE' && block.der.equals(certificate);
  if (block.label !== 'PUBLIC KEY') return false;
  try {
    return parsePublicKey(pem).spkiDer.equals(key.spkiDer);
  } catch {
    return false;
  }
}
