/**
 * Key types Signet signs and verifies with, the hash each one implies, and signing/verification over
 * node:crypto. The allowed set is cosign's (sigstore goodkey): ECDSA P-256/P-384/P-521, RSA PKCS#1 v1.5
 * and Ed25519. Everything else is refused up front so no caller has to re-check.
 */
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  publicDecrypt,
  sign as nodeSign,
  verify as nodeVerify,
  timingSafeEqual,
  X509Certificate,
  constants,
} from 'node:crypto';
import { createRequire } from 'node:module';
import { SignetError } from '../errors.js';
import { standardEcSpki } from './ec-spki.js';
import { decodeFirstPem, encodePem, looksLikePem } from './pem.js';

export type KeyKind = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'rsa' | 'ed25519';
export type HashAlg = 'sha256' | 'sha384' | 'sha512';

export interface PublicKeyInfo {
  key: KeyObject;
  kind: KeyKind;
  /** Digest used with this key: P-256 and RSA sha256, P-384 sha384, P-521 sha512, Ed25519 null (pure). */
  hash: HashAlg | null;
  /** DER SubjectPublicKeyInfo. */
  spkiDer: Buffer;
  /** PEM `PUBLIC KEY`. */
  pem: string;
  /** base64(sha256(spkiDer)), the `publicKey.hint` of a Sigstore bundle. */
  hint: string;
}

/**
 * Signs with a private key wherever it lives. `sign` may answer later: keys in an HSM or behind a
 * key-service plug-in sign outside this process, so every caller awaits it.
 */
export interface Signer {
  readonly publicKey: PublicKeyInfo;
  /**
   * A certificate stored with the key (DER), checked to certify `publicKey`: a PKCS#11 token's
   * certificate object with the key's CKA_ID/CKA_LABEL. Signatures carry it, as cosign attaches it.
   */
  readonly certificate?: Buffer;
  /** DER ECDSA, PKCS#1 v1.5 or raw Ed25519 signature over `data`, hashed with `publicKey.hash`. */
  sign(data: Uint8Array): Buffer | Promise<Buffer>;
}

/** A signer whose key is in this process: it answers at once. */
export interface LocalSigner extends Signer {
  sign(data: Uint8Array): Buffer;
}

/** RSA sizes accepted for verification; generation and import stay within 2048..4096 like cosign. */
export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 8192;

const CURVES: Record<string, { kind: KeyKind; hash: HashAlg; name: string }> = {
  prime256v1: { kind: 'ecdsa-p256', hash: 'sha256', name: 'P-256' },
  secp384r1: { kind: 'ecdsa-p384', hash: 'sha384', name: 'P-384' },
  secp521r1: { kind: 'ecdsa-p521', hash: 'sha512', name: 'P-521' },
};

const CURVE_DISPLAY: Record<string, string> = {
  secp224r1: 'P-224',
  secp256k1: 'secp256k1',
  prime192v1: 'P-192',
};

function classify(pub: KeyObject): { kind: KeyKind; hash: HashAlg | null } {
  const type = pub.asymmetricKeyType;
  const details = pub.asymmetricKeyDetails ?? {};
  switch (type) {
    case 'ec': {
      const curve = details.namedCurve;
      const c = curve ? CURVES[curve] : undefined;
      if (!c) {
        const shown = curve ? (CURVE_DISPLAY[curve] ?? curve) : 'explicit parameters';
        throw new SignetError('KEY_UNSUPPORTED', `ECDSA curve ${shown} is not allowed (use P-256, P-384 or P-521)`);
      }
      return { kind: c.kind, hash: c.hash };
    }
    case 'rsa': {
      const bits = details.modulusLength ?? 0;
      if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        throw new SignetError(
          'KEY_UNSUPPORTED',
          `RSA key size ${bits} is not allowed (${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits to verify; 2048 to 4096 bits to sign, as in cosign)`,
        );
      }
      return { kind: 'rsa', hash: 'sha256' };
    }
    case 'ed25519':
      return { kind: 'ed25519', hash: null };
    default:
      throw new SignetError(
        'KEY_UNSUPPORTED',
        `${type ?? 'unknown'} keys are not supported (use ECDSA P-256/P-384/P-521, RSA or Ed25519)`,
      );
  }
}

/** Describe a public key (or the public half of a private key), refusing types cosign does not allow. */
export function publicKeyInfo(key: KeyObject): PublicKeyInfo {
  if (key.type === 'secret') throw new SignetError('KEY_UNSUPPORTED', 'a symmetric key is not a signing key');
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const { kind, hash } = classify(pub);
  const spkiDer = pub.export({ type: 'spki', format: 'der' });
  return {
    key: pub,
    kind,
    hash,
    spkiDer,
    pem: pub.export({ type: 'spki', format: 'pem' }).toString(),
    hint: createHash('sha256').update(spkiDer).digest('base64'),
  };
}

function loadPublicKeyObject(input: string | Buffer): KeyObject {
  if (!looksLikePem(input)) {
    if (typeof input === 'string') throw new SignetError('KEY_FORMAT', 'public key is neither PEM nor DER');
    try {
      return createPublicKey({ key: input, format: 'der', type: 'spki' });
    } catch (e) {
      throw new SignetError('KEY_FORMAT', 'public key is not a valid DER SubjectPublicKeyInfo', { cause: e });
    }
  }
  const text = typeof input === 'string' ? input : input.toString('utf8');
  const block = decodeFirstPem(text, 'public key');
  try {
    switch (block.label) {
      case 'PUBLIC KEY':
        return createPublicKey({ key: block.der, format: 'der', type: 'spki' });
      case 'RSA PUBLIC KEY': {
        const k = createPublicKey({ key: block.der, format: 'der', type: 'pkcs1' });
        // OpenSSL guesses the structure; a PKCS#1 label must really hold an RSA key.
        if (k.asymmetricKeyType !== 'rsa') throw new Error('not PKCS#1');
        return k;
      }
      case 'CERTIFICATE':
        return new X509Certificate(block.der).publicKey;
    }
  } catch (e) {
    throw new SignetError('KEY_FORMAT', `PEM block "${block.label}" does not hold a valid public key`, { cause: e });
  }
  if (/PRIVATE KEY/.test(block.label)) {
    throw new SignetError('KEY_FORMAT', `expected a public key or certificate, found a private key (PEM "${block.label}")`);
  }
  throw new SignetError('KEY_FORMAT', `unsupported PEM type "${block.label}" for a public key`);
}

/**
 * The PublicKeyInfo of a P-256 or P-384 key in the standard SPKI form (ec-spki.ts), made without
 * node:crypto; the KeyObject and the hint are made when first read. A log server checking entries through
 * the addon reads neither: a key it has not seen costs it a few µs instead of ~130.
 */
export function standardEcPublicKey(der: Uint8Array): PublicKeyInfo | undefined {
  const ec = standardEcSpki(der);
  if (!ec) return undefined;
  const spkiDer = Buffer.from(der);
  let key: KeyObject | undefined;
  let hint: string | undefined;
  return {
    kind: ec.kind,
    hash: ec.hash,
    spkiDer,
    pem: encodePem('PUBLIC KEY', spkiDer),
    get key(): KeyObject {
      return (key ??= createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }));
    },
    get hint(): string {
      return (hint ??= createHash('sha256').update(spkiDer).digest('base64'));
    },
  };
}

/** standardEcPublicKey of a DER SPKI or of a PEM whose first block is a PUBLIC KEY; undefined otherwise. */
function standardEcPublicKeyOf(input: string | Buffer): PublicKeyInfo | undefined {
  if (!looksLikePem(input)) return typeof input === 'string' ? undefined : standardEcPublicKey(input);
  try {
    const block = decodeFirstPem(typeof input === 'string' ? input : input.toString('utf8'), 'public key');
    return block.label === 'PUBLIC KEY' ? standardEcPublicKey(block.der) : undefined;
  } catch {
    return undefined; // the general way below says what is wrong
  }
}

/** Parse PEM `PUBLIC KEY`, PEM `RSA PUBLIC KEY`, DER SPKI or a PEM `CERTIFICATE` (its subject key). */
export function parsePublicKey(input: string | Buffer): PublicKeyInfo {
  return standardEcPublicKeyOf(input) ?? publicKeyInfo(loadPublicKeyObject(input));
}

class KeySigner implements LocalSigner {
  readonly publicKey: PublicKeyInfo;
  readonly #key: KeyObject;
  constructor(key: KeyObject) {
    this.publicKey = publicKeyInfo(key);
    this.#key = key;
  }
  sign(data: Uint8Array): Buffer {
    return nodeSign(this.publicKey.hash, data, this.#key);
  }
}

export function signerFromPrivateKey(key: KeyObject): LocalSigner {
  if (key.type !== 'private') throw new SignetError('KEY_FORMAT', 'a signer needs a private key');
  return new KeySigner(key);
}

/** True only for a valid signature; a malformed signature is just invalid, never an exception. */
export function verifySignature(pub: PublicKeyInfo, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    return nodeVerify(pub.hash, data, pub.key, sig);
  } catch {
    return false;
  }
}

const DIGEST_LEN: Record<HashAlg, number> = { sha256: 32, sha384: 48, sha512: 64 };

// DER DigestInfo prefixes (RFC 8017 §9.2 note 1); the digest follows directly.
const DIGEST_INFO_PREFIX: Record<HashAlg, Buffer> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

type EcdsaModule = typeof import('./ecdsa.js');
let ecdsa: EcdsaModule | undefined;
/**
 * ECDSA over a digest, by keys/ecdsa.ts: the native addon when it is loaded, the one TypeScript fallback
 * otherwise. Required at first use (synchronously: require() of an ES module, Node >= 22.12), so commands
 * that never verify a digest load neither the addon nor @noble/curves.
 */
export function verifyEcdsaDigest(key: KeyObject, digest: Uint8Array, sigDer: Uint8Array): boolean {
  ecdsa ??= createRequire(import.meta.url)('./ecdsa.js') as EcdsaModule;
  return ecdsa.verifyEcdsaDigest(key, digest, sigDer);
}

/** verifyEcdsaDigest for a described ECDSA key: its DER goes to the addon as it is, no KeyObject is made. */
export function verifyEcdsaDigestOf(pub: PublicKeyInfo, digest: Uint8Array, sigDer: Uint8Array): boolean {
  ecdsa ??= createRequire(import.meta.url)('./ecdsa.js') as EcdsaModule;
  return ecdsa.verifyEcdsaDigestOf(pub, digest, sigDer);
}

/**
 * Verify a signature knowing only the digest of the signed data (e.g. `verify-blob sha256:<hex>`).
 * node:crypto always hashes ECDSA input itself, so ECDSA goes through verifyEcdsaDigest (keys/ecdsa.ts);
 * RSA recovers the PKCS#1 v1.5 block with the public key and compares the DigestInfo.
 */
export function verifyPrehashed(pub: PublicKeyInfo, digest: Uint8Array, hashAlg: HashAlg, sig: Uint8Array): boolean {
  const want = DIGEST_LEN[hashAlg];
  if (want === undefined) throw new SignetError('USAGE', `unsupported digest algorithm "${String(hashAlg)}"`);
  if (digest.length !== want) {
    throw new SignetError('USAGE', `a ${hashAlg} digest is ${want} bytes, got ${digest.length}`);
  }
  switch (pub.kind) {
    case 'ed25519':
      throw new SignetError(
        'KEY_UNSUPPORTED',
        'an Ed25519 signature cannot be verified from a digest alone; pass the artifact itself',
      );
    case 'rsa': {
      const bits = pub.key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (sig.length !== Math.ceil(bits / 8)) return false;
      let block: Buffer;
      try {
        block = publicDecrypt({ key: pub.key, padding: constants.RSA_PKCS1_PADDING }, sig);
      } catch {
        return false;
      }
      const expected = Buffer.concat([DIGEST_INFO_PREFIX[hashAlg], digest]);
      return block.length === expected.length && timingSafeEqual(block, expected);
    }
    default:
      // OpenSSL and Go do not normalise s, so high-s signatures are valid here too.
      return verifyEcdsaDigestOf(pub, digest, sig);
  }
}

export interface GeneratedKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A fresh key pair; RSA defaults to 3072 bits. */
export function generateKeyPair(kind: KeyKind = 'ecdsa-p256', opts: { rsaBits?: 2048 | 3072 | 4096 } = {}): GeneratedKeyPair {
  switch (kind) {
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ecdsa-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'ecdsa-p521':
      return generateKeyPairSync('ec', { namedCurve: 'P-521' });
    case 'rsa': {
      const bits = opts.rsaBits ?? 3072;
      if (![2048, 3072, 4096].includes(bits)) throw new SignetError('USAGE', `RSA key size ${bits} is not offered`);
      return generateKeyPairSync('rsa', { modulusLength: bits });
    }
    case 'ed25519':
      return generateKeyPairSync('ed25519');
    default:
      throw new SignetError('USAGE', `unknown key kind "${String(kind)}"`);
  }
}

/** PKCS#8 DER of a private key, the plaintext of cosign's encrypted format. */
export function privateKeyPkcs8(key: KeyObject): Buffer {
  if (key.type !== 'private') throw new SignetError('KEY_FORMAT', 'expected a private key');
  return key.export({ type: 'pkcs8', format: 'der' });
}

/**
 * The Sigstore (protobuf-specs) PublicKeyDetails name for a key, as trusted roots and Rekor v2
 * requests spell it. KEY_UNSUPPORTED for keys Sigstore has no name for.
 */
export function sigstoreKeyDetails(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'PKIX_ECDSA_P256_SHA_256';
      if (curve === 'secp384r1') return 'PKIX_ECDSA_P384_SHA_384';
      if (curve === 'secp521r1') return 'PKIX_ECDSA_P521_SHA_512';
      throw new SignetError('KEY_UNSUPPORTED', `EC curve ${curve ?? 'unknown'} has no Sigstore key details (P-256, P-384 or P-521)`);
    }
    case 'ed25519':
      return 'PKIX_ED25519';
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength;
      if (bits === 2048 || bits === 3072 || bits === 4096) return `PKIX_RSA_PKCS1V15_${bits}_SHA256`;
      throw new SignetError('KEY_UNSUPPORTED', `${bits ?? '?'}-bit RSA keys have no Sigstore key details (2048, 3072 or 4096)`);
    }
    default:
      throw new SignetError('KEY_UNSUPPORTED', `${key.asymmetricKeyType ?? 'unknown'} keys have no Sigstore key details`);
  }
}
