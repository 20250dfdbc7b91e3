/**
 * in-toto statements: the v1 statement cosign v3 signs for images, a general builder for attestations,
 * and the subject check verifiers run over the exact signed statement bytes.
 */
import { SignetError } from '../errors.js';

export const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';

export interface StatementSubject {
  name?: string;
  digest: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Statement {
  _type: string;
  subject: StatementSubject[];
  predicateType: string;
  predicate?: unknown;
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(r).sort()) out[k] = r[k]!;
  return out;
}

/**
 * The statement `cosign sign` (v3) signs: no subject name, annotations always present (`{}` when none),
 * empty predicate. Map keys are sorted as Go's protojson does.
 */
export function buildImageStatement(sha256Hex: string, annotations: Record<string, string> = {}): Buffer {
  if (!/^[0-9a-f]{64}$/.test(sha256Hex)) throw new SignetError('USAGE', `"${sha256Hex}" is not a lowercase sha256 hex digest`);
  const statement = {
    _type: STATEMENT_V1,
    subject: [{ digest: { sha256: sha256Hex }, annotations: sortedRecord(annotations) }],
    predicateType: COSIGN_SIGN_PREDICATE_TYPE,
    predicate: {},
  };
  return Buffer.from(JSON.stringify(statement), 'utf8');
}

/** A general statement (attest, attest-blob): the caller chooses `_type`, subjects and predicate. */
export function buildStatement(s: { type?: string; subjects: StatementSubject[]; predicateType: string; predicate: unknown }): Buffer {
  if (s.subjects.length === 0) throw new SignetError('USAGE', 'a statement needs at least one subject');
  const subject = s.subjects.map((x) => {
    const o: Record<string, unknown> = {};
    if (x.name !== undefined) o.name = x.name;
    o.digest = sortedRecord(x.digest);
    if (x.annotations !== undefined) o.annotations = sortedRecord(x.annotations);
    return o;
  });
  return Buffer.from(JSON.stringify({ _type: s.type ?? STATEMENT_V1, subject, predicateType: s.predicateType, predicate: s.predicate }), 'utf8');
}

/** Parse and structurally check a statement (v0.1 or v1). */
export function parseStatement(bytes: Uint8Array): Statement {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw new SignetError('MALFORMED', 'in-toto statement is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new SignetError('MALFORMED', 'in-toto statement is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d._type !== STATEMENT_V1 && d._type !== STATEMENT_V01) {
    throw new SignetError('MALFORMED', `unsupported in-toto statement type ${JSON.stringify(d._type)}`);
  }
  if (typeof d.predicateType !== 'string' || d.predicateType === '') throw new SignetError('MALFORMED', 'in-toto statement has no predicateType');
  if (!Array.isArray(d.subject)) throw new SignetError('MALFORMED', 'in-toto statement has no subject list');
  const subject = d.subject.map((s: unknown, i: number): StatementSubject => {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new SignetError('MALFORMED', `in-toto subject ${i} is not an object`);
    const o = s as Record<string, unknown>;
    const digest = stringRecord(o.digest, `in-toto subject ${i} digest`);
    if (digest === undefined) throw new SignetError('MALFORMED', `in-toto subject ${i} has no digest`);
    const annotations = o.annotations === null ? undefined : stringRecord(o.annotations, `in-toto subject ${i} annotations`, true);
    if (o.name !== undefined && typeof o.name !== 'string') throw new SignetError('MALFORMED', `in-toto subject ${i} name is not a string`);
    return { ...(typeof o.name === 'string' ? { name: o.name } : {}), digest, ...(annotations ? { annotations } : {}) };
  });
  return { _type: d._type, subject, predicateType: d.predicateType, predicate: d.predicate };
}

/** Subject annotations are a protobuf Struct: values may be any JSON; we compare their string forms. */
function stringRecord(v: unknown, what: string, anyValues = false): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SignetError('MALFORMED', `${what} is not an object`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string') out[k] = x;
    else if (anyValues) out[k] = JSON.stringify(x);
    else throw new SignetError('MALFORMED', `${what} "${k}" is not a string`);
  }
  return out;
}

/**
 * True when some subject's sha256 equals `sha256Hex` and carries every wanted annotation.
 * Throws MALFORMED when the bytes are not a statement at all.
 */
export function subjectMatches(statementBytes: Uint8Array, sha256Hex: string, annotations?: Record<string, string>): boolean {
  const st = parseStatement(statementBytes);
  const want = sha256Hex.toLowerCase();
  return st.subject.some((s) => {
    if (s.digest.sha256?.toLowerCase() !== want) return false;
    for (const [k, v] of Object.entries(annotations ?? {})) {
      if (s.annotations?.[k] !== v) return false;
    }
    return true;
  });
}
