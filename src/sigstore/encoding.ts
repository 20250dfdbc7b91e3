/** Small, strict decoders shared by the bundle and envelope parsers. */
import { SignetError } from '../errors.js';

// protojson accepts standard and URL-safe base64, padded or not; anything else (whitespace, stray
// characters, mixed alphabets, bad padding, non-canonical trailing bits) is refused rather than silently
// skipped as Buffer.from would do. This runs on every certificate, payload and log body of every bundle,
// so it leans on Node's native decoder instead of a JavaScript pass over the characters (~10× faster):
// for ASCII input that decoder takes exactly the 64 + 2 characters of both alphabets and skips anything
// else, and a skipped character always shortens the output (test/sigstore/bundle.test.ts checks this
// for every UTF-16 code unit, so a Node upgrade that changed it would fail there).
const STD_ONLY = 64;
const URL_ONLY = 128;
/** Char code → 6-bit value, | STD_ONLY for '+' '/', | URL_ONLY for '-' '_'; 255 = not base64. */
const B64 = new Uint8Array(128).fill(255);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.charCodeAt(i)] = i;
B64[0x2b] = 62 | STD_ONLY; // '+'
B64[0x2f] = 63 | STD_ONLY; // '/'
B64[0x2d] = 62 | URL_ONLY; // '-'
B64[0x5f] = 63 | URL_ONLY; // '_'

function bad(what: string): never {
  throw new SignetError('MALFORMED', `${what} is not valid base64`);
}

export function decodeBase64Strict(s: string, what: string): Buffer {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x3d) end--;
  const padded = s.length - end;
  // Padding is optional, but when present it must complete the last quantum (at most two '=').
  if (end % 4 === 1 || padded > 2 || (padded > 0 && s.length % 4 !== 0)) bad(what);
  if (end === 0) return Buffer.alloc(0);
  // Node reads a UTF-16 code unit by its low byte ('\u012b' would pass for '+'): ASCII only.
  if (Buffer.byteLength(s, 'utf8') !== s.length) bad(what);
  const buf = Buffer.from(end === s.length ? s : s.slice(0, end), 'base64');
  // Every character counted in `end` must have been a base64 digit (end % 4 !== 1, so one fewer
  // digit always means fewer bytes).
  if (buf.length !== (end * 3) >> 2) bad(what);
  // Non-canonical trailing bits would decode to the same bytes as a different string; refuse them.
  const last = B64[s.charCodeAt(end - 1)]! & 63;
  if ((end % 4 === 2 && (last & 0x0f) !== 0) || (end % 4 === 3 && (last & 0x03) !== 0)) bad(what);
  if ((s.includes('+') || s.includes('/')) && (s.includes('-') || s.includes('_'))) bad(what);
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
