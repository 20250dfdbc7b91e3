/** Small, strict decoders shared by the bundle and envelope parsers. */
import { SignetError } from '../errors.js';

// protojson accepts standard and URL-safe base64, padded or not; anything else (whitespace, stray
// characters, bad padding) is refused rather than silently skipped as Buffer.from would do.
const STD = /^[A-Za-z0-9+/]*={0,2}$/;
const URL = /^[A-Za-z0-9_-]*={0,2}$/;

export function decodeBase64Strict(s: string, what: string): Buffer {
  const std = STD.test(s);
  if (!std && !URL.test(s)) throw new SignetError('MALFORMED', `${what} is not valid base64`);
  const body = s.replace(/=+$/, '');
  const padded = s.length - body.length;
  if (body.length % 4 === 1 || (padded > 0 && s.length % 4 !== 0)) {
    throw new SignetError('MALFORMED', `${what} is not valid base64`);
  }
  const buf = Buffer.from(body, std ? 'base64' : 'base64url');
  // Non-canonical trailing bits would decode to the same bytes as a different string; refuse them.
  if (buf.toString('base64').replace(/=+$/, '') !== (std ? body : body.replace(/-/g, '+').replace(/_/g, '/'))) {
    throw new SignetError('MALFORMED', `${what} is not valid base64`);
  }
  return buf;
}

export type HashAlg = 'sha256' | 'sha384' | 'sha512';

export const DIGEST_LENGTH: Record<HashAlg, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** protobuf-specs HashAlgorithm enum names. */
export const HASH_ALG_NAME: Record<HashAlg, string> = { sha256: 'SHA2_256', sha384: 'SHA2_384', sha512: 'SHA2_512' };

export function hashAlgFromName(name: unknown, what: string): HashAlg {
  for (const [alg, n] of Object.entries(HASH_ALG_NAME)) if (n === name) return alg as HashAlg;
  throw new SignetError('MALFORMED', `${what} has unsupported hash algorithm ${JSON.stringify(name)}`);
}
