/**
 * The email addresses the CA puts into certificates (rfc822Name SANs) and the development issuer puts
 * into tokens. Fulcio accepts an address when govalidator's IsEmail matches it and Go's x509 can then
 * encode it as an IA5String, i.e. an ASCII RFC 5322 addr-spec. We accept the same, a little tighter:
 *
 *  - local part: a dot-atom of RFC 5322 atext (letters, digits, ! # $ % & ' * + - / = ? ^ _ ` { | } ~),
 *    at most 64 octets; quoted local parts (which may hold spaces and control bytes) are refused;
 *  - domain: at least two dot-separated LDH labels of 1..63 octets, no leading or trailing hyphen, a
 *    top-level label that is not all digits; IDNA A-labels (`xn--…`) must be valid
 *    punycode; a Unicode domain is refused with its ASCII (A-label) form named, since an rfc822Name is
 *    ASCII and silently rewriting the address would put a different identity into the certificate;
 *  - at most 254 octets in all (RFC 5321's path limit), which also keeps the domain within 253.
 *
 * NUL, control characters, spaces, a second `@` and every non-ASCII character are therefore refused.
 */
import { domainToASCII } from 'node:url';

export const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_LENGTH = 64;

const ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** How a character looks in a message: printable ASCII as itself, anything else as a code point. */
function shown(ch: string): string {
  const cp = ch.codePointAt(0)!;
  return cp > 0x20 && cp < 0x7f ? `"${ch}"` : `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Why `s` is not an address we certify, or undefined when it is. The reason is one line, names the
 * offending character or part, and never echoes control characters.
 */
export function emailAddressProblem(s: string): string | undefined {
  if (s.length === 0) return 'it is empty';
  if (s.length > MAX_EMAIL_LENGTH) return `it is longer than ${MAX_EMAIL_LENGTH} characters`;
  const at = s.lastIndexOf('@');
  if (at < 0) return 'it has no "@"';
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  if (local.includes('@')) return 'it has more than one "@"';
  if (local.length === 0) return 'the part before "@" is empty';
  if (domain.length === 0) return 'the domain after "@" is empty';
  if (local.startsWith('"')) return 'quoted local parts are not accepted';
  // One pass for characters no address may hold, so the message names them rather than a rule.
  for (const ch of local) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) return `the part before "@" contains the control character ${shown(ch)}`;
    if (cp === 0x20) return 'the part before "@" contains a space';
    if (cp > 0x7f) return `the part before "@" contains the non-ASCII character ${shown(ch)}`;
  }
  if (local.length > MAX_LOCAL_LENGTH) return `the part before "@" is longer than ${MAX_LOCAL_LENGTH} characters`;
  for (const atom of local.split('.')) {
    if (atom === '') return 'the part before "@" has an empty dot-separated part (leading, trailing or double ".")';
    if (!ATOM.test(atom)) {
      const bad = [...atom].find((c) => !ATOM.test(c))!;
      return `the part before "@" contains ${shown(bad)}, which an unquoted address cannot hold`;
    }
  }
  for (const ch of domain) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) return `the domain contains the control character ${shown(ch)}`;
    if (cp === 0x20) return 'the domain contains a space';
    if (cp > 0x7f) {
      const ascii = domainToASCII(domain);
      return ascii !== '' && ascii !== domain ? `the domain is not ASCII; use its IDNA form ${ascii}` : `the domain contains the non-ASCII character ${shown(ch)}`;
    }
  }
  const labels = domain.split('.');
  if (labels.length < 2) return `the domain "${domain}" has no "."`;
  for (const label of labels) {
    if (label === '') return `the domain "${domain}" has an empty label (leading, trailing or double ".")`;
    if (!LABEL.test(label)) return `the domain label "${label}" is not letters, digits and inner hyphens of at most 63 characters`;
  }
  if (/^[0-9]+$/.test(labels.at(-1)!)) return `the domain "${domain}" ends in a numeric label`;
  // Labels of the form "xn--…" are IDNA A-labels: the punycode after the prefix must decode.
  if (labels.some((l) => /^xn--/i.test(l)) && domainToASCII(domain) === '') return `the domain "${domain}" has an "xn--" label that is not valid punycode`;
  return undefined;
}

export function isEmailAddress(s: unknown): s is string {
  return typeof s === 'string' && emailAddressProblem(s) === undefined;
}

/** An address as it may appear in a message: printable ASCII kept, everything else escaped, bounded. */
export function quoteForMessage(s: string): string {
  const cut = s.length > 80 ? s.slice(0, 80) + '...' : s;
  return JSON.stringify(cut).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
