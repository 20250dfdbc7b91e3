/**
 * A policy-controller `TrustRoot`'s `spec.sigstoreKeys` turned into a trusted_root.json document (the
 * protobuf-specs shape `sigstore/trustedroot.ts` reads). In the resource, `certChain` and `publicKey`
 * are Go `[]byte` fields — base64 of PEM in YAML — and PEM as-is is accepted too. Log IDs are the
 * SHA-256 of the key's DER, as Rekor and CT compute them, when the resource gives none.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { SignetError } from '../errors.js';
import { decodePemBlocks } from '../keys/index.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface FieldErrors {
  fail(field: string, msg: string): never;
}

function pemText(v: unknown, field: string, f: FieldErrors): string {
  if (typeof v !== 'string' || v.trim() === '') f.fail(field, 'expected PEM, or base64 of PEM');
  const t = v.trim();
  if (t.startsWith('-----BEGIN')) return t;
  const decoded = Buffer.from(t.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (!decoded.includes('-----BEGIN')) f.fail(field, 'expected PEM, or base64 of PEM');
  return decoded;
}

function validFor(v: unknown): Obj {
  const start = isObj(v) && typeof v.start === 'string' ? v.start : '1970-01-01T00:00:00Z';
  const end = isObj(v) && typeof v.end === 'string' ? v.end : undefined;
  return { start, ...(end ? { end } : {}) };
}

function keyDetails(der: Buffer): string {
  const k = createPublicKey({ key: der, format: 'der', type: 'spki' });
  const t = k.asymmetricKeyType;
  if (t === 'ed25519') return 'PKIX_ED25519';
  if (t === 'rsa') return 'PKIX_RSA_PKCS1V15_2048_SHA256';
  const curve = k.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return 'PKIX_ECDSA_P256_SHA_256';
  if (curve === 'secp384r1') return 'PKIX_ECDSA_P384_SHA_384';
  if (curve === 'secp521r1') return 'PKIX_ECDSA_P521_SHA_512';
  return 'PUBLIC_KEY_DETAILS_UNSPECIFIED';
}

function logs(list: unknown, field: string, f: FieldErrors): Obj[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) f.fail(field, 'expected a list');
  return list.map((raw, i) => {
    const at = `${field}[${i}]`;
    if (!isObj(raw)) f.fail(at, 'expected an object');
    const blocks = decodePemBlocks(pemText(raw.publicKey, `${at}.publicKey`, f));
    const der = blocks.find((b) => b.label === 'PUBLIC KEY')?.der;
    if (!der) f.fail(`${at}.publicKey`, 'no PUBLIC KEY block');
    let details: string;
    try {
      details = keyDetails(Buffer.from(der));
    } catch (e) {
      f.fail(`${at}.publicKey`, `not a public key: ${(e as Error).message}`);
    }
    const logId = isObj(raw.logID) && typeof raw.logID.keyId === 'string' ? raw.logID.keyId : createHash('sha256').update(der).digest('base64');
    const baseUrl = typeof raw.baseURL === 'string' ? raw.baseURL : '';
    return {
      baseUrl,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: Buffer.from(der).toString('base64'), keyDetails: details, validFor: validFor(raw.validFor) },
      logId: { keyId: logId },
    };
  });
}

function authorities(list: unknown, field: string, f: FieldErrors): Obj[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) f.fail(field, 'expected a list');
  return list.map((raw, i) => {
    const at = `${field}[${i}]`;
    if (!isObj(raw)) f.fail(at, 'expected an object');
    const certs = decodePemBlocks(pemText(raw.certChain, `${at}.certChain`, f)).filter((b) => b.label === 'CERTIFICATE');
    if (certs.length === 0) f.fail(`${at}.certChain`, 'no CERTIFICATE block');
    const subject = isObj(raw.subject) ? raw.subject : {};
    return {
      subject: { organization: String(subject.organization ?? ''), commonName: String(subject.commonName ?? '') },
      uri: typeof raw.uri === 'string' ? raw.uri : '',
      certChain: { certificates: certs.map((c) => ({ rawBytes: Buffer.from(c.der).toString('base64') })) },
      validFor: validFor(raw.validFor),
    };
  });
}

export function sigstoreKeysToTrustedRoot(keys: Obj, f: FieldErrors): Obj {
  try {
    return {
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: logs(keys.tLogs ?? keys.tlogs, 'spec.sigstoreKeys.tLogs', f),
      certificateAuthorities: authorities(keys.certificateAuthorities, 'spec.sigstoreKeys.certificateAuthorities', f),
      ctlogs: logs(keys.ctLogs ?? keys.ctlogs, 'spec.sigstoreKeys.ctLogs', f),
      timestampAuthorities: authorities(keys.timestampAuthorities, 'spec.sigstoreKeys.timestampAuthorities', f),
    };
  } catch (e) {
    if (e instanceof SignetError) throw e;
    f.fail('spec.sigstoreKeys', (e as Error).message);
  }
}
