/** DER encoding of one TLV (definite length), for the few structures we build without a schema library. */
export function derTlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

/** DER OBJECT IDENTIFIER for a dotted OID string. */
export function derOidEncode(oid: string): Buffer {
  const arcs = oid.split('.').map(Number);
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const b: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) b.unshift(0x80 | (v & 0x7f));
    out.push(...b);
  }
  return derTlv(0x06, Buffer.from(out));
}

function timeDigits(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${String(d.getUTCFullYear()).padStart(4, '0')}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

/** GeneralizedTime in whole seconds, UTC (YYYYMMDDHHMMSSZ). */
export function derGeneralizedTime(d: Date): Buffer {
  return derTlv(0x18, Buffer.from(timeDigits(d), 'latin1'));
}

/** RFC 5280 / RFC 5652 Time: UTCTime for 1950–2049, GeneralizedTime otherwise; whole seconds, UTC. */
export function derTime(d: Date): Buffer {
  const y = d.getUTCFullYear();
  if (y >= 1950 && y < 2050) return derTlv(0x17, Buffer.from(timeDigits(d).slice(2), 'latin1'));
  return derGeneralizedTime(d);
}
