/**
 * The two SubjectPublicKeyInfo encodings nearly every ECDSA key arrives in, read without OpenSSL: P-256
 * and P-384, named curve, uncompressed point. Decoding a key with node:crypto (OpenSSL 3's decoders) and
 * re-encoding it to PEM, DER and its details cost a log server ~130 µs of its event loop for every entry
 * signed by a key it had not seen, more than the entry's whole remaining work. Matching the fixed DER
 * prefix and checking that the point is on the curve costs a few µs, and accepts exactly the keys OpenSSL
 * accepts in this form (an uncompressed point on a prime curve of cofactor 1 is valid iff its coordinates
 * are below p and it satisfies the curve equation). Everything else — other curves, compressed points,
 * explicit parameters, a point off the curve — is left to node:crypto, which refuses or accepts it with
 * its own reasons.
 *
 * Likewise a certificate's SubjectPublicKeyInfo is found by walking its DER (`certificateSpki`) rather than
 * by exporting node's KeyObject of it (~35 µs a certificate).
 */

export interface StandardEcSpki {
  kind: 'ecdsa-p256' | 'ecdsa-p384';
  hash: 'sha256' | 'sha384';
}

interface Curve extends StandardEcSpki {
  /** The DER up to the point: SEQUENCE { SEQUENCE { id-ecPublicKey, curve OID }, BIT STRING (0 unused bits) }. */
  prefix: Buffer;
  /** Bytes of one coordinate. */
  size: number;
  /** The field prime and the curve's b (a = -3 for both: y² = x³ - 3x + b). */
  p: bigint;
  b: bigint;
}

const CURVES: readonly Curve[] = [
  {
    kind: 'ecdsa-p256',
    hash: 'sha256',
    prefix: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
    size: 32,
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  {
    kind: 'ecdsa-p384',
    hash: 'sha384',
    prefix: Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'),
    size: 48,
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
];

function coordinate(der: Uint8Array, at: number, size: number): bigint {
  return BigInt(`0x${Buffer.from(der.buffer, der.byteOffset + at, size).toString('hex')}`);
}

/**
 * The curve of `der` when it is a P-256 or P-384 SubjectPublicKeyInfo in the standard form (named curve,
 * uncompressed point, nothing after it) holding a valid point; undefined for anything else.
 */
export function standardEcSpki(der: Uint8Array): StandardEcSpki | undefined {
  for (const c of CURVES) {
    const head = c.prefix.length;
    if (der.length !== head + 1 + 2 * c.size || der[head] !== 0x04) continue;
    if (Buffer.compare(Buffer.from(der.buffer, der.byteOffset, head), c.prefix) !== 0) continue;
    const { p } = c;
    const x = coordinate(der, head + 1, c.size);
    const y = coordinate(der, head + 1 + c.size, c.size);
    if (x >= p || y >= p) return undefined;
    const rhs = (((((x * x) % p) * x) % p) + 3n * (p - x) + c.b) % p;
    return (y * y) % p === rhs ? { kind: c.kind, hash: c.hash } : undefined;
  }
  return undefined;
}

/** The TLV at `at` within `end`: its tag, where its contents start and where it ends; undefined if malformed. */
function tlv(der: Uint8Array, at: number, end: number): { tag: number; body: number; end: number } | undefined {
  if (at + 2 > end) return undefined;
  const tag = der[at]!;
  if ((tag & 0x1f) === 0x1f) return undefined; // multi-byte tags: not in these structures
  let len = der[at + 1]!;
  let body = at + 2;
  if (len >= 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || body + n > end) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[body + i]!;
    body += n;
  }
  return body + len > end ? undefined : { tag, body, end: body + len };
}

/**
 * The DER SubjectPublicKeyInfo inside a DER X.509 certificate, as its bytes (a view), or undefined when
 * the DER is not shaped like a certificate. Only the structure is walked: the caller parses the
 * certificate itself (node's X509Certificate) to know it is one.
 */
export function certificateSpki(cert: Uint8Array): Uint8Array | undefined {
  const outer = tlv(cert, 0, cert.length);
  if (!outer || outer.tag !== 0x30) return undefined;
  const tbs = tlv(cert, outer.body, outer.end);
  if (!tbs || tbs.tag !== 0x30) return undefined;
  let at = tbs.body;
  let field = tlv(cert, at, tbs.end);
  // [0] EXPLICIT version, when present
  if (field?.tag === 0xa0) field = tlv(cert, (at = field.end), tbs.end);
  // serialNumber, signature, issuer, validity, subject
  for (const tag of [0x02, 0x30, 0x30, 0x30, 0x30]) {
    if (!field || field.tag !== tag) return undefined;
    field = tlv(cert, (at = field.end), tbs.end);
  }
  if (!field || field.tag !== 0x30) return undefined;
  return cert.subarray(at, field.end);
}
