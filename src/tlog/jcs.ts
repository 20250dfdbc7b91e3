/**
 * RFC 8785 JSON Canonicalization Scheme for plain JSON values. ECMAScript's own number and string
 * serialization *is* the scheme's (RFC 8785 §3.2.2), so JSON.stringify does the leaves; this adds member
 * sorting by UTF-16 code units (§3.2.3) and rejects what JCS cannot represent.
 */
import { SignetError } from '../errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue | undefined };

function str(s: string): string {
  // isWellFormed is native; a lone-surrogate regexp over every (often kilobytes long) string was a
  // visible share of the log's per-entry CPU.
  if (!s.isWellFormed()) throw new SignetError('INTERNAL', 'canonical JSON: string contains a lone surrogate');
  return JSON.stringify(s);
}

function write(v: unknown, depth: number): string {
  if (depth > 100) throw new SignetError('INTERNAL', 'canonical JSON: nesting too deep');
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new SignetError('INTERNAL', `canonical JSON: ${v} is not a JSON number`);
    return JSON.stringify(v); // -0 serializes as 0, as §3.2.2.3 requires
  }
  if (typeof v === 'string') return str(v);
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      const e: unknown = v[i];
      if (e === undefined) throw new SignetError('INTERNAL', 'canonical JSON: undefined array element');
      out += (i > 0 ? ',' : '') + write(e, depth + 1);
    }
    return out + ']';
  }
  if (typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    const obj = v as Record<string, unknown>;
    // Default sort compares UTF-16 code units, which is exactly §3.2.3's order. Undefined members are
    // omitted, as JSON.stringify does, so optional fields can be passed through.
    const keys = Object.keys(obj);
    // Objects built in key order (most of what a log server writes) skip the sort and its allocations.
    for (let i = 1; i < keys.length; i++) {
      if (keys[i - 1]! > keys[i]!) {
        keys.sort();
        break;
      }
    }
    let out = '{';
    let first = true;
    for (const k of keys) {
      const m = obj[k];
      if (m === undefined) continue;
      out += (first ? '' : ',') + str(k) + ':' + write(m, depth + 1);
      first = false;
    }
    return out + '}';
  }
  throw new SignetError('INTERNAL', `canonical JSON: cannot serialize ${typeof v === 'object' ? Object.prototype.toString.call(v) : typeof v}`);
}

export function canonicalJson(value: JsonValue): string {
  return write(value, 0);
}

export function canonicalJsonBytes(value: JsonValue): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}
