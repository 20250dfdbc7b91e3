/**
 * Minimal PEM framing (RFC 7468), enough for keys and certificates. Like Go's encoding/pem, text around
 * blocks is ignored and RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`) are kept so callers can refuse
 * legacy-encrypted keys with a clear message instead of a base64 error.
 */
import { SignetError } from '../errors.js';

export interface PemBlock {
  label: string;
  headers: Record<string, string>;
  der: Buffer;
}

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n/g;
const BASE64_LINE = /^[A-Za-z0-9+/=]*$/;

/** Every PEM block in `text`, in order. Malformed blocks throw KEY_FORMAT; no blocks gives []. */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(text); m !== null; m = BEGIN.exec(text)) {
    const label = m[1]!;
    const endMarker = `-----END ${label}-----`;
    const end = text.indexOf(endMarker, BEGIN.lastIndex);
    if (end < 0) throw new SignetError('KEY_FORMAT', `PEM block "${label}" has no END line`);
    const lines = text.slice(BEGIN.lastIndex, end).split(/\r?\n/);
    const headers: Record<string, string> = {};
    let i = 0;
    // Headers only appear before the first blank line (RFC 1421); base64 lines never contain ':'.
    while (i < lines.length && lines[i]!.includes(':')) {
      const line = lines[i]!;
      const c = line.indexOf(':');
      headers[line.slice(0, c).trim()] = line.slice(c + 1).trim();
      i++;
    }
    const body = lines
      .slice(i)
      .map((l) => l.trim())
      .filter((l) => l.length > 0);
    if (!body.every((l) => BASE64_LINE.test(l))) {
      throw new SignetError('KEY_FORMAT', `PEM block "${label}" has a body that is not base64`);
    }
    const b64 = body.join('');
    if (b64.length % 4 !== 0 || /=[^=]/.test(b64)) {
      throw new SignetError('KEY_FORMAT', `PEM block "${label}" has a body that is not valid base64`);
    }
    blocks.push({ label, headers, der: Buffer.from(b64, 'base64') });
    BEGIN.lastIndex = end + endMarker.length;
  }
  return blocks;
}

/** The first PEM block, or a KEY_FORMAT error naming `what` (e.g. the file) when there is none. */
export function decodeFirstPem(text: string, what: string): PemBlock {
  const [first] = decodePemBlocks(text);
  if (!first) throw new SignetError('KEY_FORMAT', `${what} does not contain a PEM block`);
  return first;
}

/** PEM with 64-column lines and a trailing newline, as Go's pem.Encode writes it. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}${lines.length ? '\n' : ''}-----END ${label}-----\n`;
}

export function looksLikePem(data: string | Uint8Array): boolean {
  const s = typeof data === 'string' ? data : Buffer.from(data.subarray(0, 4096)).toString('latin1');
  return s.includes('-----BEGIN ');
}
