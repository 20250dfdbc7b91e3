/**
 * An organisation's own PKI and timestamp authorities, as cosign's flags name them (pure: the caller
 * reads the files). Certificates from `--certificate`/`--certificate-chain` on signing; the trust
 * anchors of `--certificate-chain` or `--ca-roots`/`--ca-intermediates` on verification, turned into
 * the certificate authorities the verification engine checks a leaf against; `--timestamp-certificate-chain`
 * into a timestamp authority; and cosign's JSON form of an RFC 3161 timestamp (`dev.sigstore.cosign/rfc3161timestamp`,
 * `sign-blob --rfc3161-timestamp`).
 */
import { SignetError } from '../errors.js';
import { decodePemBlocks, encodePem, type PublicKeyInfo } from '../keys/index.js';
import { certificatePublicKey, isSignedBy, parseCertificate, type CertificateAuthority, type ParsedCertificate } from '../sigstore/certificate.js';
import { decodeBase64Strict } from '../sigstore/encoding.js';
import type { TimestampAuthority } from '../sigstore/timestamp-verify.js';

/** The DER certificates of a PEM file, in file order; MALFORMED naming `name` when there are none. */
export function certificatesFromPem(text: string, name: string): Buffer[] {
  let blocks;
  try {
    blocks = decodePemBlocks(text);
  } catch (e) {
    throw new SignetError('MALFORMED', `${name}: ${(e as Error).message}`, { cause: e });
  }
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => Buffer.from(b.der));
  if (certs.length === 0) throw new SignetError('MALFORMED', `${name} holds no PEM certificate`);
  for (const [i, der] of certs.entries()) {
    try {
      parseCertificate(der, 'certificate');
    } catch (e) {
      throw new SignetError('MALFORMED', `${name}: certificate ${i + 1} does not parse: ${(e as Error).message}`, { cause: e });
    }
  }
  return certs;
}

/** PEM text of DER certificates, one block each (what cosign stores in its certificate and chain annotations). */
export function certificatesPem(ders: readonly Buffer[]): string {
  return ders.map((d) => encodePem('CERTIFICATE', d)).join('');
}

/**
 * The signing certificate must certify the signing key: a signature whose certificate names another
 * key verifies for nobody, so it is refused before anything is signed.
 */
export function checkCertificateKey(certificate: Buffer, key: PublicKeyInfo, name = '--certificate'): void {
  const leaf = parseCertificate(certificate, 'signing certificate');
  if (!leaf.spki.equals(key.spkiDer)) {
    throw new SignetError('USAGE', `${name} certifies a different public key than the signing key (--key)`);
  }
}

/**
 * `--certificate-chain` on signing: the leaf's issuer first, the root last; each must issue the one
 * before it, the first must issue the leaf. Checked so a chain that can never verify is not stored.
 */
export function checkSigningChain(certificate: Buffer, chain: readonly Buffer[], name = '--certificate-chain'): void {
  let child = parseCertificate(certificate, 'signing certificate');
  chain.forEach((der, i) => {
    const parent = parseCertificate(der, `${name} certificate ${i + 1}`);
    if (!child.issuerRaw.equals(parent.subjectRaw) || !isSignedBy(child, certificatePublicKey(parent))) {
      throw new SignetError('USAGE', i === 0 ? `${name}: its first certificate did not issue the signing certificate` : `${name}: certificate ${i + 1} did not issue certificate ${i}`);
    }
    child = parent;
  });
  const last = child;
  if (chain.length > 0 && (!last.issuerRaw.equals(last.subjectRaw) || !isSignedBy(last, certificatePublicKey(last)))) {
    throw new SignetError('USAGE', `${name} does not end with a self-signed root certificate`);
  }
}

/** `--certificate-chain` on verification: one certificate authority, the leaf's issuer first and the root last. */
export function authoritiesFromChain(chain: readonly Buffer[], name = '--certificate-chain'): CertificateAuthority[] {
  const last = parseCertificate(chain[chain.length - 1]!, `${name} certificate ${chain.length}`);
  if (!selfSigned(last)) throw new SignetError('USAGE', `${name} does not end with a self-signed root certificate`);
  return [{ certChain: [...chain], validFor: {} }];
}

function selfSigned(c: ParsedCertificate): boolean {
  return c.issuerRaw.equals(c.subjectRaw) && isSignedBy(c, certificatePublicKey(c));
}

/**
 * `--ca-roots` and `--ca-intermediates`: every path from a given certificate up to a given root (through
 * intermediates only) becomes a certificate authority, so a leaf issued by any of them is anchored at a
 * root. A root must be self-signed; an intermediate that reaches no root anchors nothing.
 */
export function authoritiesFromPools(roots: readonly Buffer[], intermediates: readonly Buffer[]): CertificateAuthority[] {
  const rootCerts = roots.map((d, i) => parseCertificate(d, `--ca-roots certificate ${i + 1}`));
  for (const [i, r] of rootCerts.entries()) {
    if (!selfSigned(r)) throw new SignetError('USAGE', `--ca-roots certificate ${i + 1} is not a self-signed root certificate`);
  }
  const mids = intermediates.map((d, i) => parseCertificate(d, `--ca-intermediates certificate ${i + 1}`));
  const out: CertificateAuthority[] = rootCerts.map((r) => ({ certChain: [r.der], validFor: {} }));
  for (const m of mids) {
    // Walk up: a path of at most 10 intermediates, without repeating one.
    const path: ParsedCertificate[] = [m];
    for (let cur = m; path.length <= 10; ) {
      const root = rootCerts.find((r) => cur.issuerRaw.equals(r.subjectRaw) && isSignedBy(cur, certificatePublicKey(r)));
      if (root) {
        out.push({ certChain: [...path, root].map((c) => c.der), validFor: {} });
        break;
      }
      const parent = mids.find((p) => !path.includes(p) && cur.issuerRaw.equals(p.subjectRaw) && isSignedBy(cur, certificatePublicKey(p)));
      if (!parent) break;
      path.push(parent);
      cur = parent;
    }
  }
  return out;
}

/**
 * `--timestamp-certificate-chain`: the TSA's chain, root last; the TSA's signing certificate must be
 * first (Signet checks a timestamp against the leaf the authority names, as in a trusted root).
 */
export function timestampAuthorityFromChain(chain: readonly Buffer[]): TimestampAuthority {
  return { certChain: { certificates: chain.map((d) => ({ rawBytes: d.toString('base64') })) } };
}

/** cosign's JSON around an RFC 3161 timestamp: `{"SignedRFC3161Timestamp":"<base64 DER TimeStampResp>"}`. */
export function timestampJson(der: Buffer): string {
  return JSON.stringify({ SignedRFC3161Timestamp: der.toString('base64') });
}

/** The DER TimeStampResp inside cosign's timestamp JSON (an annotation, or a `--rfc3161-timestamp` file). */
export function parseTimestampJson(text: string, name: string): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new SignetError('MALFORMED', `${name} is not JSON`);
  }
  const b64 = (doc as { SignedRFC3161Timestamp?: unknown } | null)?.SignedRFC3161Timestamp;
  if (typeof b64 !== 'string' || b64 === '') throw new SignetError('MALFORMED', `${name} has no SignedRFC3161Timestamp`);
  return decodeBase64Strict(b64, `${name} SignedRFC3161Timestamp`);
}
