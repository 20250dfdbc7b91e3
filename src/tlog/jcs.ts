/**
 * RFC 8785 JSON Canonicalization Scheme for plain JSON values. ECMAScript's own number and string
 * serialization *is* the scheme's (RFC 8785 §3.2.2), so JSON.stringify does the leaves; this adds member
 * sorting by UTF-16 code units (§3.2.3) and rejects what JCS cannot represent.
 */
import { SignetError } from '../errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue | undefined };

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function str(s: string): string {
  if (LONE_SURROGATE.test(s)) throw new SignetError('INTERNAL', 'canonical JSON: string contains a lone surrogate');
  return JSON.stringify(s);
}

function write(v: unknown, out: string[], depth: number): void {
  if (depth > 100) throw new SignetError('INTERNAL', 'canonical JSON: nesting too deep');
  if (v === null) out.push('null');
  else if (typeof v === 'boolean') out.push(v ? 'true' : 'false');
  else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new SignetError('INTERNAL', `canonical JSON: ${v} is not a JSON number`);
    out.push(JSON.stringify(v)); // -0 serializes as 0, as §3.2.2.3 requires
  } else if (typeof v === 'string') out.push(str(v));
  else if (Array.isArray(v)) {
    out.push('[');
    v.forEach((e, i) => {
      if (i > 0) out.push(',');
      if (e === undefined) throw new SignetError('INTERNAL', 'canonical JSON: undefined array element');
      write(e, out, depth + 1);
    });
    out.push(']');
  } else if (typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    const obj = v as Record<string, unknown>;
    // Default sort compares UTF-16 code units, which is exactly §3.2.3's order. Undefined members are
    // omitted, as JSON.stringify does, so optional fields can be passed through.
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    out.push('{');
    keys.forEach((k, i) => {
      if (i > 0) out.push(',');
      out.push(str(k), ':');
      write(obj[k], out, depth + 1);
    });
    out.push('}');
  } else {
    throw new SignetError('INTERNAL', `canonical JSON: cannot serialize ${typeof v === 'object' ? Object.prototype.toString.call(v) : typeof v}`);
  }
}

export function canonicalJson(value: JsonValue): string {
  const out: string[] = [];
  write(value, out, 0);
  return out.join('');
}

export function canonicalJsonBytes(value: JsonValue): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}
