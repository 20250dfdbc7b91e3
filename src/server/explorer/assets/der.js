// A small DER reader and the parts of X.509 the explorer shows: names, validity, SANs, the public key,
// and the extensions, with Fulcio's 1.3.6.1.4.1.57264.1.* decoded. Read-only; nothing here verifies.

export class DerError extends Error {}

/** One TLV at `off`: tag byte, class, constructed flag, where the contents start and end. */
export function readTlv(buf, off, limit = buf.length) {
  if (off + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[off];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let len = buf[off + 1];
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('unsupported DER length');
    if (p + n > limit) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > limit) throw new DerError('DER value runs past its container');
  return { tag, cls: tag >> 6, constructed: (tag & 0x20) !== 0, number: tag & 0x1f, start: p, end: p + len, off };
}

export function children(buf, node) {
  const out = [];
  let p = node.start;
  while (p < node.end) {
    const c = readTlv(buf, p, node.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export const bytesOf = (buf, node) => buf.subarray(node.start, node.end);
export const tlvBytes = (buf, node) => buf.subarray(node.off, node.end);

export function oidString(bytes) {
  if (bytes.length === 0) throw new DerError('empty OID');
  const parts = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

/** A DER string (UTF8String, PrintableString, IA5String, …) as text. */
export function derString(buf, node) {
  const b = bytesOf(buf, node);
  if (node.tag === 0x1e) {
    let s = '';
    for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i] << 8) | b[i + 1]);
    return s;
  }
  return node.tag === 0x0c ? utf8.decode(b) : latin1.decode(b);
}

export const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function derTime(buf, node) {
  const s = latin1.decode(bytesOf(buf, node));
  const m = node.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new DerError(`unsupported time ${s}`);
  let year = Number(m[1]);
  if (node.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

const NAME_ATTRS = { '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU', '1.2.840.113549.1.9.1': 'emailAddress', '2.5.4.5': 'serialNumber' };

function nameString(buf, node) {
  const parts = [];
  for (const rdn of children(buf, node)) {
    for (const atv of children(buf, rdn)) {
      const [oid, value] = children(buf, atv);
      const o = oidString(bytesOf(buf, oid));
      parts.push(`${NAME_ATTRS[o] ?? o}=${derString(buf, value)}`);
    }
  }
  return parts.join(', ');
}

export const CURVES = { '1.2.840.10045.3.1.7': 'P-256', '1.3.132.0.34': 'P-384', '1.3.132.0.35': 'P-521' };

/** The algorithm of a SubjectPublicKeyInfo: { type: 'ECDSA'|'Ed25519'|'RSA'|oid, curve?, bits? }. */
export function spkiInfo(der) {
  const root = readTlv(der, 0);
  if (root.tag !== 0x30 || root.end !== der.length) throw new DerError('not a SubjectPublicKeyInfo');
  const [alg, bits] = children(der, root);
  const [oidNode, params] = children(der, alg);
  const oid = oidString(bytesOf(der, oidNode));
  if (oid === '1.2.840.10045.2.1') {
    const curveOid = params && params.tag === 0x06 ? oidString(bytesOf(der, params)) : '';
    return { type: 'ECDSA', curve: CURVES[curveOid] ?? curveOid };
  }
  if (oid === '1.3.101.112') return { type: 'Ed25519' };
  if (oid === '1.2.840.113549.1.1.1') {
    const inner = bytesOf(der, bits).subarray(1);
    const seq = readTlv(inner, 0);
    const [mod] = children(inner, seq);
    let n = bytesOf(inner, mod);
    while (n.length > 0 && n[0] === 0) n = n.subarray(1);
    return { type: 'RSA', bits: n.length * 8 };
  }
  return { type: oid };
}

// Fulcio's certificate extensions (github.com/sigstore/fulcio docs/oid-info.md). 1–6 hold the raw string
// as the extension value (deprecated); 8 on hold a DER UTF8String.
export const FULCIO_OIDS = {
  1: 'Issuer (v1)',
  2: 'GitHub Workflow Trigger',
  3: 'GitHub Workflow SHA',
  4: 'GitHub Workflow Name',
  5: 'GitHub Workflow Repository',
  6: 'GitHub Workflow Ref',
  8: 'Issuer',
  9: 'Build Signer URI',
  10: 'Build Signer Digest',
  11: 'Runner Environment',
  12: 'Source Repository URI',
  13: 'Source Repository Digest',
  14: 'Source Repository Ref',
  15: 'Source Repository Identifier',
  16: 'Source Repository Owner URI',
  17: 'Source Repository Owner Identifier',
  18: 'Build Config URI',
  19: 'Build Config Digest',
  20: 'Build Trigger',
  21: 'Run Invocation URI',
  22: 'Source Repository Visibility At Signing',
};

const EXT_NAMES = {
  '2.5.29.14': 'Subject Key Identifier',
  '2.5.29.15': 'Key Usage',
  '2.5.29.17': 'Subject Alternative Name',
  '2.5.29.19': 'Basic Constraints',
  '2.5.29.35': 'Authority Key Identifier',
  '2.5.29.37': 'Extended Key Usage',
  '1.3.6.1.4.1.11129.2.4.2': 'Certificate Transparency SCTs',
};

const GENERAL_NAMES = { 1: 'email', 2: 'DNS', 6: 'URI', 7: 'IP' };

/** The fields of one DER certificate the entry page shows. Throws DerError for what it cannot read. */
export function parseCertificate(der) {
  const root = readTlv(der, 0);
  if (root.tag !== 0x30) throw new DerError('not a certificate');
  const [tbs] = children(der, root);
  const f = children(der, tbs);
  let i = 0;
  let version = 1;
  if (f[0].tag === 0xa0) {
    const v = children(der, f[0])[0];
    version = bytesOf(der, v)[0] + 1;
    i = 1;
  }
  const serial = hex(bytesOf(der, f[i]));
  const issuer = nameString(der, f[i + 2]);
  const [nb, na] = children(der, f[i + 3]);
  const subject = nameString(der, f[i + 4]);
  const spkiDer = tlvBytes(der, f[i + 5]);
  const cert = { version, serial, issuer, subject, notBefore: derTime(der, nb), notAfter: derTime(der, na), spkiDer, key: spkiInfo(spkiDer), sans: [], fulcio: [], extensions: [], isCa: false };
  const extWrap = f.slice(i + 6).find((n) => n.tag === 0xa3);
  if (!extWrap) return cert;
  for (const ext of children(der, children(der, extWrap)[0])) {
    const parts = children(der, ext);
    const oid = oidString(bytesOf(der, parts[0]));
    const critical = parts.length === 3 && bytesOf(der, parts[1])[0] !== 0;
    const value = bytesOf(der, parts[parts.length - 1]);
    cert.extensions.push({ oid, name: EXT_NAMES[oid] ?? (oid.startsWith('1.3.6.1.4.1.57264.1.') ? 'Fulcio' : oid), critical });
    if (oid === '2.5.29.17') {
      const seq = readTlv(value, 0);
      for (const gn of children(value, seq)) {
        const kind = GENERAL_NAMES[gn.number];
        if (!kind || gn.cls !== 2) continue;
        const b = bytesOf(value, gn);
        cert.sans.push({ type: kind, value: kind === 'IP' ? Array.from(b).join('.') : latin1.decode(b) });
      }
    } else if (oid === '2.5.29.19') {
      const seq = readTlv(value, 0);
      const c = children(value, seq);
      cert.isCa = c.length > 0 && c[0].tag === 0x01 && value[c[0].start] !== 0;
    } else if (oid.startsWith('1.3.6.1.4.1.57264.1.')) {
      const n = Number(oid.slice('1.3.6.1.4.1.57264.1.'.length));
      let text;
      if (n >= 1 && n <= 6) text = utf8.decode(value);
      else {
        try {
          text = derString(value, readTlv(value, 0));
        } catch {
          text = hex(value);
        }
      }
      cert.fulcio.push({ oid, name: FULCIO_OIDS[n] ?? `Fulcio extension ${n}`, value: text });
    }
  }
  return cert;
}

/** Every PEM block of a text: [{ label, der }]. */
export function pemBlocks(text) {
  const out = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const b64 = m[2].replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new DerError(`the PEM ${m[1]} block is not base64`);
    out.push({ label: m[1], der: base64Bytes(b64) });
  }
  return out;
}

export function base64Bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesBase64(b) {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}
