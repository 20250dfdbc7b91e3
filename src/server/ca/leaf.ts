/**
 * The issued leaf certificate, encoded field by field. A leaf is a fixed shape (v3, empty subject, the
 * issuing certificate's subject as issuer, a handful of extensions), so it is assembled from DER pieces
 * and signed with the issuing KeyObject on the thread pool, instead of going through the x509 schema
 * library, which encoded every field through its object model, signed through WebCrypto and parsed the
 * result back: about 2.5 ms of the server's CPU per keyless signature, a quarter of all it spent on one.
 * The bytes are the ones that library produced (test/server/ca/leaf.test.ts compares them).
 */
import { createHash, type KeyObject, sign } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, SubjectAlternativeName } from '@peculiar/asn1-x509';
import { SignetError } from '../../errors.js';
import { derUtf8String, SIGSTORE_OID, type Principal } from '../oidc/principal.js';
import { derRead } from '../../sigstore/certificate.js';
import { derOidEncode, derTime, derTlv } from '../../sigstore/der.js';

export interface LeafExtension {
  oid: string;
  critical: boolean;
  /** The DER that goes inside extnValue's OCTET STRING. */
  value: Uint8Array;
}

export interface LeafFields {
  /** INTEGER contents: positive, minimal. */
  serial: Buffer;
  /** DER Name of the issuing certificate's subject, byte for byte. */
  issuerRaw: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  spkiDer: Buffer;
  /** The signature AlgorithmIdentifier (see `leafSigner`). */
  signatureAlgorithm: Buffer;
  extensions: LeafExtension[];
}

const EMPTY_NAME = Buffer.from([0x30, 0x00]);
const VERSION_3 = derTlv(0xa0, derTlv(0x02, Buffer.from([2])));
const CRITICAL = derTlv(0x01, Buffer.from([0xff]));

export function encodeExtension(e: LeafExtension): Buffer {
  const value = derTlv(0x04, Buffer.from(e.value.buffer, e.value.byteOffset, e.value.byteLength));
  return e.critical ? derTlv(0x30, derOidEncode(e.oid), CRITICAL, value) : derTlv(0x30, derOidEncode(e.oid), value);
}

/** The DER TBSCertificate of a leaf. */
export function leafTbs(f: LeafFields): Buffer {
  return derTlv(
    0x30,
    VERSION_3,
    derTlv(0x02, f.serial),
    f.signatureAlgorithm,
    f.issuerRaw,
    derTlv(0x30, derTime(f.notBefore), derTime(f.notAfter)),
    EMPTY_NAME,
    f.spkiDer,
    derTlv(0xa3, derTlv(0x30, ...f.extensions.map(encodeExtension))),
  );
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits (hex). */
export function subjectKeyIdOf(spkiDer: Uint8Array): string {
  const spki = derRead(spkiDer, 0, spkiDer.length, 'public key');
  const alg = derRead(spkiDer, spki.body, spki.end, 'public key');
  const bits = derRead(spkiDer, alg.end, spki.end, 'public key');
  if (spki.tag !== 0x30 || alg.tag !== 0x30 || bits.tag !== 0x03 || bits.end === bits.body) {
    throw new SignetError('MALFORMED', 'public key is not a DER SubjectPublicKeyInfo');
  }
  return createHash('sha1').update(spkiDer.subarray(bits.body + 1, bits.end)).digest('hex');
}

export interface LeafSigner {
  /** DER AlgorithmIdentifier, in the TBS and after it. */
  algorithm: Buffer;
  /** A complete DER certificate over `tbs`; the signature is made on the thread pool. */
  sign(tbs: Buffer): Promise<Buffer>;
}

const ECDSA: Record<string, [string, string]> = {
  prime256v1: ['1.2.840.10045.4.3.2', 'sha256'],
  secp384r1: ['1.2.840.10045.4.3.3', 'sha384'],
  secp521r1: ['1.2.840.10045.4.3.4', 'sha512'],
};

/** The signature algorithm the CA's key signs with (as the WebCrypto parameters of ca.ts chose them). */
export function leafSigner(key: KeyObject): LeafSigner {
  let algorithm: Buffer;
  let hash: string | null;
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const c = ECDSA[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (!c) throw new SignetError('KEY_UNSUPPORTED', `CA key curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'} is not allowed (use P-256, P-384 or P-521)`);
      algorithm = derTlv(0x30, derOidEncode(c[0]));
      hash = c[1];
      break;
    }
    case 'rsa':
      // sha256WithRSAEncryption, parameters NULL
      algorithm = derTlv(0x30, derOidEncode('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00]));
      hash = 'sha256';
      break;
    case 'ed25519':
      algorithm = derTlv(0x30, derOidEncode('1.3.101.112'));
      hash = null;
      break;
    default:
      throw new SignetError('KEY_UNSUPPORTED', `CA key type ${key.asymmetricKeyType ?? 'unknown'} is not supported`);
  }
  return {
    algorithm,
    sign: (tbs) =>
      new Promise((resolve, reject) => {
        sign(hash, tbs, key, (err, sig) => {
          if (err) reject(new SignetError('INTERNAL', `signing the certificate failed: ${err.message}`, { cause: err }));
          else resolve(derTlv(0x30, tbs, algorithm, derTlv(0x03, Buffer.from([0]), sig)));
        });
      }),
  };
}

const SAN_OID = '2.5.29.17';

/**
 * The subjectAltName naming the principal: an email (rfc822Name), a URI, or Sigstore's otherName with
 * a UTF8String. Marked critical, as Fulcio does, because the subject is empty (RFC 5280 §4.2.1.6).
 * IA5String names that are not ASCII go through the schema library, so their bytes stay what it wrote.
 */
export function sanExtension(p: Principal): LeafExtension {
  let name: Buffer | undefined;
  if (p.sanType === 'othername') {
    // otherName [0] IMPLICIT SEQUENCE { type-id OID, value [0] EXPLICIT UTF8String }
    name = derTlv(0xa0, derOidEncode(SIGSTORE_OID.otherName), derTlv(0xa0, derUtf8String(p.subject)));
  } else if (/^[\x00-\x7f]*$/.test(p.subject)) {
    // rfc822Name [1] / uniformResourceIdentifier [6], IMPLICIT IA5String
    name = derTlv(p.sanType === 'email' ? 0x81 : 0x86, Buffer.from(p.subject, 'latin1'));
  }
  if (name) return { oid: SAN_OID, critical: true, value: derTlv(0x30, name) };
  const general = p.sanType === 'email' ? new GeneralName({ rfc822Name: p.subject }) : new GeneralName({ uniformResourceIdentifier: p.subject });
  return { oid: SAN_OID, critical: true, value: new Uint8Array(AsnConvert.serialize(new SubjectAlternativeName([general]))) };
}

