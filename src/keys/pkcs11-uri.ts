/**
 * PKCS#11 URIs (RFC 7512) as cosign reads them in `--key pkcs11:…`: path attributes `token`, `slot-id`,
 * `object` (the key's label) and `id` (its CKA_ID, percent-encoded bytes), query attributes `module-path`,
 * `pin-value` and `pin-source`. Like cosign: one of token/slot-id and one of object/id must be given,
 * the module comes from `module-path` or `COSIGN_PKCS11_MODULE_PATH` and must be an absolute path, and
 * `;` and `&` both separate attributes. Unlike Go's query parser, `+` stays a plus (RFC 7512 has no
 * form encoding). Pure: no I/O.
 */
import { isAbsolute } from 'node:path';
import { SignetError } from '../errors.js';

export interface Pkcs11Uri {
  /** Absolute path of the PKCS#11 module (shared library). */
  modulePath: string;
  slotId?: number;
  /** Token label. */
  token?: string;
  /** Key label (CKA_LABEL). */
  object?: string;
  /** Key id (CKA_ID). */
  id?: Buffer;
  /** `pin-value`, when the URI carries the PIN itself. */
  pin?: string;
  /** `pin-source`: a file holding the PIN (`file:/path` or a path). */
  pinSource?: string;
}

export const PKCS11_SCHEME = /^pkcs11:/i;

export function isPkcs11Uri(ref: string): boolean {
  return PKCS11_SCHEME.test(ref);
}

function bad(uri: string, why: string): SignetError {
  return new SignetError('USAGE', `malformed PKCS#11 URI ${redactPin(uri)}: ${why}`);
}

/** The URI with any `pin-value` replaced, for messages. */
export function redactPin(uri: string): string {
  return uri.replace(/([?&;]pin-value=)[^&;]*/gi, '$1***');
}

function decode(uri: string, raw: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw bad(uri, `bad percent-encoding "${raw.slice(i, i + 3)}"`);
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(...Buffer.from(raw[i]!, 'utf8'));
    }
  }
  return Buffer.from(out);
}

function attributes(uri: string, part: string, where: string): Map<string, Buffer> {
  const map = new Map<string, Buffer>();
  if (part === '') return map;
  for (const item of part.split(/[;&]/)) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw bad(uri, `${where} attribute "${item}" is not name=value`);
    const name = item.slice(0, eq).toLowerCase();
    if (map.has(name)) throw bad(uri, `${where} attribute "${name}" is given twice`);
    map.set(name, decode(uri, item.slice(eq + 1)));
  }
  return map;
}

/** Parse `pkcs11:…`; `env` supplies COSIGN_PKCS11_MODULE_PATH when the URI has no module-path. */
export function parsePkcs11Uri(uri: string, env: NodeJS.ProcessEnv = process.env): Pkcs11Uri {
  if (!PKCS11_SCHEME.test(uri)) throw bad(uri, 'it does not start with pkcs11:');
  const body = uri.slice('pkcs11:'.length);
  const q = body.indexOf('?');
  const path = attributes(uri, q < 0 ? body : body.slice(0, q), 'path');
  const query = attributes(uri, q < 0 ? '' : body.slice(q + 1), 'query');
  const text = (m: Map<string, Buffer>, k: string): string | undefined => {
    const v = m.get(k);
    return v === undefined || v.length === 0 ? undefined : v.toString('utf8');
  };

  const out: Pkcs11Uri = { modulePath: '' };
  const token = text(path, 'token');
  const slot = text(path, 'slot-id');
  if (token === undefined && slot === undefined) throw bad(uri, 'one of token and slot-id must be set');
  if (token !== undefined) out.token = token;
  if (slot !== undefined) {
    if (!/^[0-9]+$/.test(slot) || !Number.isSafeInteger(Number(slot))) throw bad(uri, `slot-id "${slot}" is not a number`);
    out.slotId = Number(slot);
  }
  const object = text(path, 'object');
  const id = path.get('id');
  if (object === undefined && (id === undefined || id.length === 0)) throw bad(uri, 'one of object and id must be set');
  if (object !== undefined) out.object = object;
  if (id !== undefined && id.length > 0) out.id = id;

  const modulePath = text(query, 'module-path') ?? env.COSIGN_PKCS11_MODULE_PATH ?? '';
  if (modulePath === '') {
    throw bad(uri, 'module-path or COSIGN_PKCS11_MODULE_PATH must be set to the absolute path of the PKCS#11 module');
  }
  if (!isAbsolute(modulePath)) throw bad(uri, `module-path "${modulePath}" is not an absolute path`);
  out.modulePath = modulePath;
  const pin = text(query, 'pin-value');
  if (pin !== undefined) out.pin = pin;
  const pinSource = text(query, 'pin-source');
  if (pinSource !== undefined) out.pinSource = pinSource;
  return out;
}

const PATH_CHARS = /[A-Za-z0-9\-._~:[\]@!$'()*+,=]/;
const QUERY_CHARS = /[A-Za-z0-9\-._~:[\]@!$'()*+,=/?|]/;

function encode(value: string | Buffer, allowed: RegExp | null): string {
  let out = '';
  for (const b of typeof value === 'string' ? Buffer.from(value, 'utf8') : value) {
    const ch = String.fromCharCode(b);
    out += allowed && b < 0x80 && allowed.test(ch) ? ch : '%' + b.toString(16).padStart(2, '0');
  }
  return out;
}

/** The URI cosign's `pkcs11-tool list-keys-uris` prints for a key (same attribute order and encoding). */
export function formatPkcs11Uri(u: { modulePath: string; token?: string; slotId?: number; id?: Buffer; object?: string; pin?: string }): string {
  let s = 'pkcs11:';
  const path: string[] = [];
  if (u.token) path.push('token=' + encode(u.token, PATH_CHARS));
  if (u.slotId !== undefined) path.push('slot-id=' + u.slotId);
  if (u.id && u.id.length > 0) path.push('id=' + encode(u.id, null));
  if (u.object) path.push('object=' + encode(u.object, PATH_CHARS));
  s += path.join(';');
  s += '?module-path=' + encode(u.modulePath, QUERY_CHARS);
  if (u.pin) s += '&pin-value=' + encode(u.pin, QUERY_CHARS);
  return s;
}
