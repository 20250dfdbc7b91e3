/**
 * Attestation predicates as cosign names and builds them (pure): the `--type` aliases and the URIs they
 * stand for (cosign's `options/predicate.go`), any other absolute URI taken as itself, and the in-toto
 * statement `attest` / `attest-blob` sign around a predicate file (cosign's `attestation.GenerateStatement`:
 * `_type` v0.1, one subject with the name and sha256 given, Go's JSON conventions).
 */
import { SignetError } from '../errors.js';
import { parseStatement, STATEMENT_V01, type Statement } from '../sigstore/intoto.js';
import { goEscape, sortedKeys } from './gojson.js';

/** cosign's `custom` predicate: the predicate file's text wrapped as `{"Data": …, "Timestamp": …}`. */
export const COSIGN_CUSTOM_PREDICATE = 'https://cosign.sigstore.dev/attestation/v1';
export const COSIGN_VULN_PREDICATE = 'https://cosign.sigstore.dev/attestation/vuln/v1';

/** `--type` aliases → predicate type URIs, as cosign's PredicateTypeMap has them. */
export const PREDICATE_TYPE_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  custom: COSIGN_CUSTOM_PREDICATE,
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  link: 'https://in-toto.io/Link/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  vuln: COSIGN_VULN_PREDICATE,
  openvex: 'https://openvex.dev/ns',
});

/** The fields cosign requires (present, any value) before it accepts a predicate of these struct types. */
const REQUIRED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  slsaprovenance: ['builder', 'buildType'],
  slsaprovenance02: ['builder', 'buildType'],
  slsaprovenance1: ['buildDefinition', 'runDetails'],
  link: ['_type', 'name', 'materials', 'products', 'byproducts', 'command', 'environment'],
};

/** The predicate type URI for a `--type` value: an alias, or an absolute URI taken as itself. USAGE otherwise. */
export function resolvePredicateType(type: string): string {
  const alias = PREDICATE_TYPE_ALIASES[type];
  if (alias) return alias;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(type)) {
    try {
      new URL(type);
      return type;
    } catch {
      // fall through
    }
  }
  throw new SignetError('USAGE', `invalid predicate type "${type}": use one of ${Object.keys(PREDICATE_TYPE_ALIASES).join(', ')} or a URI`);
}

/** RFC 3339 in UTC to the second, as Go's time.RFC3339 prints a UTC time. */
function rfc3339(t: Date): string {
  return t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function parseJson(raw: Buffer, what: string): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new SignetError('MALFORMED', `the predicate is not valid JSON, which a ${what} predicate must be: ${(e as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The predicate value cosign puts in the statement for `--type` (alias or URI) and the predicate file's
 * bytes. JSON predicates of map types come out with sorted keys (Go's map marshalling); those of struct
 * types keep the file's order.
 */
export function buildPredicate(type: string, raw: Buffer, now: Date = new Date()): { predicateType: string; predicate: unknown } {
  const predicateType = resolvePredicateType(type);
  if (predicateType === COSIGN_CUSTOM_PREDICATE) {
    return { predicateType, predicate: { Data: raw.toString('utf8'), Timestamp: rfc3339(now) } };
  }
  if (type === 'spdx') return { predicateType, predicate: raw.toString('utf8') };
  const required = REQUIRED_FIELDS[type];
  if (required) {
    const doc = parseJson(raw, type);
    if (!isObject(doc)) throw new SignetError('MALFORMED', `the ${type} predicate is not a JSON object`);
    const missing = required.find((f) => !(f in doc));
    if (missing !== undefined) throw new SignetError('MALFORMED', `the ${type} predicate lacks the required field "${missing}"`);
    return { predicateType, predicate: doc };
  }
  const doc = parseJson(raw, type in PREDICATE_TYPE_ALIASES ? type : predicateType);
  if (!(type in PREDICATE_TYPE_ALIASES) && !isObject(doc)) {
    throw new SignetError('MALFORMED', `the predicate for ${predicateType} must be a JSON object`);
  }
  return { predicateType, predicate: sortedKeys(doc) };
}

export interface AttestationStatementInput {
  /** `--type`: an alias or a URI (default custom). */
  type?: string;
  /** The predicate file's bytes. */
  predicate: Buffer;
  /** The subject: its name (cosign: the blob's base name, or the image's repository) and sha256 (hex). */
  name: string;
  sha256Hex: string;
  /** The custom predicate's Timestamp (default now). */
  now?: Date;
}

/**
 * The in-toto statement cosign generates for a predicate: `{"_type","predicateType","subject","predicate"}`
 * in that order (Go's struct order), `_type` v0.1, `<`, `>`, `&` escaped as Go does.
 */
export function buildAttestationStatement(input: AttestationStatementInput): Buffer {
  const hex = input.sha256Hex.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new SignetError('USAGE', `"${input.sha256Hex}" is not a sha256 hex digest`);
  const { predicateType, predicate } = buildPredicate(input.type ?? 'custom', input.predicate, input.now);
  const statement = { _type: STATEMENT_V01, predicateType, subject: [{ name: input.name, digest: { sha256: hex } }], predicate };
  return Buffer.from(goEscape(JSON.stringify(statement)), 'utf8');
}

/** `--statement`: a complete statement signed as it is; refused when it is not an in-toto statement. */
export function checkStatementFile(bytes: Buffer, path: string): Statement {
  try {
    const st = parseStatement(bytes);
    if (st.subject.length === 0) throw new SignetError('MALFORMED', 'in-toto statement has no subjects');
    return st;
  } catch (e) {
    if (e instanceof SignetError) throw new SignetError(e.code, `invalid statement ${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** The predicate types of statements, for "none matched" messages: distinct, in order found. */
export function listPredicateTypes(statements: Array<{ predicateType: string }>): string {
  return [...new Set(statements.map((s) => s.predicateType))].join(', ');
}
