/**
 * cosign's encrypted private key format: PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (or the older
 * `ENCRYPTED COSIGN PRIVATE KEY`) around the JSON of go-securesystemslib's `encrypted` package:
 * scrypt(password, salt) → 32-byte key → NaCl secretbox (XSalsa20-Poly1305) over PKCS#8 DER.
 */
import { createPrivateKey, KeyObject, randomBytes, scryptSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { SignetError } from '../errors.js';
import { privateKeyPkcs8, publicKeyInfo } from './keys.js';
import { decodeFirstPem, encodePem } from './pem.js';

type Salsa = typeof import('@noble/ciphers/salsa.js');
let salsa: Salsa | undefined;
/** Loaded at first use (synchronous require of an ES module, Node >= 22.12): most commands never decrypt a key. */
function xsalsa20poly1305(key: Uint8Array, nonce: Uint8Array): ReturnType<Salsa['xsalsa20poly1305']> {
  salsa ??= createRequire(import.meta.url)('@noble/ciphers/salsa.js') as Salsa;
  return salsa.xsalsa20poly1305(key, nonce);
}

export const SIGSTORE_KEY_LABEL = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_KEY_LABEL = 'ENCRYPTED COSIGN PRIVATE KEY';

/** The only scrypt parameter sets cosign decrypts (go-securesystemslib's legacy, standard and OWASP). */
const ALLOWED_PARAMS: ReadonlyArray<readonly [number, number, number]> = [
  [32768, 8, 1],
  [65536, 8, 1],
  [131072, 8, 1],
];

const SALT_LEN = 32;
const NONCE_LEN = 24;
const KEY_LEN = 32;
const TAG_LEN = 16;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function deriveKey(password: Uint8Array, salt: Uint8Array, N: number, r: number, p: number): Buffer {
  // OpenSSL needs 128*N*r*p bytes; the default 32 MiB cap is too low for N >= 2^15 with r = 8.
  return scryptSync(password, salt, KEY_LEN, { N, r, p, maxmem: 256 * N * r * p + (1 << 20) });
}

export interface EncryptOptions {
  label?: 'SIGSTORE' | 'COSIGN';
  /** scrypt cost; only values cosign can decrypt (32768, 65536, 131072) are accepted. */
  N?: number;
}

/** Encrypt a private key into cosign's PEM format (scrypt N=65536, r=8, p=1 unless told otherwise). */
export function encryptPrivateKey(key: KeyObject, password: Uint8Array, opts: EncryptOptions = {}): string {
  publicKeyInfo(key); // refuse key types cosign could not load back
  const N = opts.N ?? 65536;
  if (!ALLOWED_PARAMS.some(([n]) => n === N)) {
    throw new SignetError('USAGE', `scrypt N=${N} is not one cosign can decrypt (use 32768, 65536 or 131072)`);
  }
  const r = 8;
  const p = 1;
  const salt = randomBytes(SALT_LEN);
  const nonce = randomBytes(NONCE_LEN);
  const plaintext = privateKeyPkcs8(key);
  const boxKey = deriveKey(password, salt, N, r, p);
  const ciphertext = xsalsa20poly1305(boxKey, nonce).encrypt(plaintext);
  plaintext.fill(0);
  boxKey.fill(0);
  // Field order matches Go's struct marshalling so our files are byte-for-byte what cosign writes.
  const body = JSON.stringify({
    kdf: { name: 'scrypt', params: { N, r, p }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  });
  const label = opts.label === 'COSIGN' ? COSIGN_KEY_LABEL : SIGSTORE_KEY_LABEL;
  return encodePem(label, Buffer.from(body, 'utf8'));
}

export function isEncryptedKeyLabel(label: string): boolean {
  return label === SIGSTORE_KEY_LABEL || label === COSIGN_KEY_LABEL;
}

function bad(detail: string): SignetError {
  return new SignetError('KEY_FORMAT', `encrypted private key is malformed: ${detail}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function b64Field(v: unknown, name: string, len?: number): Buffer {
  if (typeof v !== 'string' || !B64.test(v)) throw bad(`${name} is not base64`);
  const b = Buffer.from(v, 'base64');
  if (len !== undefined && b.length !== len) throw bad(`${name} must be ${len} bytes, is ${b.length}`);
  return b;
}

interface Sealed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
}

function parseSealed(json: Buffer): Sealed {
  let doc: unknown;
  try {
    doc = JSON.parse(json.toString('utf8'));
  } catch {
    throw bad('the PEM body is not JSON');
  }
  if (!isObject(doc) || !isObject(doc.kdf) || !isObject(doc.cipher)) throw bad('missing kdf or cipher');
  const { kdf, cipher } = doc;
  if (kdf.name !== 'scrypt') throw bad(`unsupported kdf "${String(kdf.name)}" (only scrypt)`);
  if (cipher.name !== 'nacl/secretbox') throw bad(`unsupported cipher "${String(cipher.name)}" (only nacl/secretbox)`);
  const params = kdf.params;
  if (!isObject(params)) throw bad('missing scrypt parameters');
  const { N, r, p } = params;
  if (!ALLOWED_PARAMS.some(([n, rr, pp]) => n === N && rr === r && pp === p)) {
    throw bad(`scrypt parameters N=${String(N)}, r=${String(r)}, p=${String(p)} are not allowed`);
  }
  const salt = b64Field(kdf.salt, 'salt');
  if (salt.length === 0) throw bad('salt is empty');
  const nonce = b64Field(cipher.nonce, 'nonce', NONCE_LEN);
  const ciphertext = b64Field(doc.ciphertext, 'ciphertext');
  if (ciphertext.length <= TAG_LEN) throw bad('ciphertext is too short');
  return { N: N as number, r: r as number, p: p as number, salt, nonce, ciphertext };
}

/** Decrypt cosign's encrypted private key PEM (either label). */
export function decryptPrivateKey(pem: string, password: Uint8Array): KeyObject {
  const block = decodeFirstPem(pem, 'private key');
  if (!isEncryptedKeyLabel(block.label)) {
    throw new SignetError(
      'KEY_FORMAT',
      `expected an encrypted cosign private key (PEM "${SIGSTORE_KEY_LABEL}"), found PEM "${block.label}"`,
    );
  }
  const s = parseSealed(block.der);
  const boxKey = deriveKey(password, s.salt, s.N, s.r, s.p);
  let plaintext: Uint8Array;
  try {
    plaintext = xsalsa20poly1305(boxKey, s.nonce).decrypt(s.ciphertext);
  } catch {
    throw new SignetError('KEY_PASSWORD', 'incorrect password for the private key (or the key file is corrupted)');
  } finally {
    boxKey.fill(0);
  }
  const der = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  try {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } catch (e) {
      if (isSec1(der)) {
        throw new SignetError(
          'KEY_FORMAT',
          'the encrypted key holds a SEC1 "EC PRIVATE KEY", which cosign does not accept; it must be PKCS#8 (re-create it with import-key-pair)',
        );
      }
      throw new SignetError('KEY_FORMAT', 'the decrypted private key is not valid PKCS#8', { cause: e });
    }
    publicKeyInfo(key);
    return key;
  } finally {
    der.fill(0);
  }
}

function isSec1(der: Buffer): boolean {
  try {
    createPrivateKey({ key: der, format: 'der', type: 'sec1' });
    return true;
  } catch {
    return false;
  }
}
