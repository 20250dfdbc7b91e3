/**
 * Keys in PKCS#11 tokens (HSMs, smart cards, SoftHSM2) through pkcs11js, as cosign's `pkcs11key`
 * uses them: the token chosen by slot-id (first) or label, the key by CKA_ID (first) or CKA_LABEL, the
 * PIN from the URI (`pin-value`, `pin-source`), else `COSIGN_PKCS11_PIN`, else a prompt when the token
 * needs a login. ECDSA keys sign the digest this process computes (CKM_ECDSA; the token's raw r||s
 * becomes DER), RSA keys sign a PKCS#1 v1.5 DigestInfo (CKM_RSA_PKCS), so any token that can sign at
 * all works. Each signature is checked against the public key before it is returned. The binding (a
 * native addon) is loaded only when a `pkcs11:` key is used.
 */
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { promises as fs } from 'node:fs';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, readFileLimited } from '../fsutil.js';
import { publicKeyInfo, verifySignature, type PublicKeyInfo, type Signer } from './keys.js';
import { formatPkcs11Uri, parsePkcs11Uri, redactPin, type Pkcs11Uri } from './pkcs11-uri.js';

type P11 = typeof import('pkcs11js');
type Lib = InstanceType<P11['PKCS11']>;
type Handle = Buffer;

let binding: P11 | undefined;
function p11(): P11 {
  binding ??= createRequire(import.meta.url)('pkcs11js') as P11;
  return binding;
}

/** Asks for a PIN without echo (set by the CLI); undefined in library use, where a missing PIN is an error. */
export type PinPrompt = (prompt: string) => Promise<string>;
let pinPrompt: PinPrompt | undefined;
export function setPinPrompt(prompt: PinPrompt | undefined): void {
  pinPrompt = prompt;
}

const modules = new Map<string, Lib>();

async function openModule(path: string): Promise<Lib> {
  const open = modules.get(path);
  if (open) return open;
  let st;
  try {
    st = await fs.stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SignetError('IO', `PKCS#11 module ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
  }
  if (!st.isFile()) throw new SignetError('IO', `PKCS#11 module ${path} is not a regular file`);
  const { PKCS11 } = p11();
  const lib = new PKCS11();
  try {
    lib.load(path);
  } catch (e) {
    throw new SignetError('KEY_SERVICE', `cannot load PKCS#11 module ${path}: ${oneLine(e)}`, { cause: e });
  }
  try {
    // Signing runs on the thread pool in several sessions at once: the module must lock for itself, or
    // concurrent calls corrupt it (SoftHSM2 crashed the process when initialized without the flag).
    lib.C_Initialize({ flags: p11().CKF_OS_LOCKING_OK });
  } catch (e) {
    if (ckr(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      throw new SignetError('KEY_SERVICE', `PKCS#11 module ${path} failed to initialize: ${oneLine(e)}`, { cause: e });
    }
  }
  modules.set(path, lib);
  return lib;
}

/** Finalize every module this process opened (tests, benchmarks; the CLI just exits). */
export function closePkcs11Modules(): void {
  for (const lib of modules.values()) {
    try {
      lib.C_Finalize();
      lib.close();
    } catch {
      // already closed
    }
  }
  modules.clear();
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

function ckr(e: unknown): string {
  return /CKR_[A-Z_]+/.exec(e instanceof Error ? e.message : String(e))?.[0] ?? '';
}

function handleNumber(h: Handle): number {
  return h.length >= 8 ? Number(h.readBigUInt64LE(0)) : h.readUInt32LE(0);
}

function trimField(s: string): string {
  return s.replace(/[\s\0]+$/, '');
}

export interface TokenSummary {
  slot: number;
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  loginRequired: boolean;
}

function summary(lib: Lib, slot: Handle): TokenSummary {
  const info = lib.C_GetTokenInfo(slot);
  return {
    slot: handleNumber(slot),
    label: trimField(info.label),
    manufacturer: trimField(info.manufacturerID),
    model: trimField(info.model),
    serial: trimField(info.serialNumber),
    loginRequired: (info.flags & p11().CKF_LOGIN_REQUIRED) !== 0,
  };
}

/** The tokens of a module, as `pkcs11-tool list-tokens` prints them. */
export async function listTokens(modulePath: string): Promise<TokenSummary[]> {
  const lib = await openModule(modulePath);
  const out: TokenSummary[] = [];
  for (const slot of call('list the slots', () => lib.C_GetSlotList(true))) {
    try {
      out.push(summary(lib, slot));
    } catch {
      // A slot whose token went away between the two calls: skip it, as cosign does.
    }
  }
  return out;
}

function call<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new SignetError('KEY_SERVICE', `PKCS#11: cannot ${what}: ${oneLine(e)}`, { cause: e });
  }
}

interface Token {
  lib: Lib;
  slot: Handle;
  info: TokenSummary;
}

async function findToken(uri: Pkcs11Uri, shown: string): Promise<Token> {
  const lib = await openModule(uri.modulePath);
  const slots = call('list the slots', () => lib.C_GetSlotList(true));
  for (const slot of slots) {
    if (uri.slotId !== undefined && handleNumber(slot) !== uri.slotId) continue;
    const info = call('read the token information', () => summary(lib, slot));
    if (uri.slotId === undefined && info.label !== uri.token) continue;
    if (uri.token !== undefined && info.label !== uri.token) {
      throw new SignetError('USAGE', `${shown}: the token in slot ${uri.slotId} is "${info.label}", not "${uri.token}"`);
    }
    return { lib, slot, info };
  }
  const which = uri.slotId !== undefined ? `slot ${uri.slotId}` : `token labelled "${uri.token}"`;
  const have = slots.map((s) => {
    try {
      const label = summary(lib, s).label;
      return `slot ${handleNumber(s)} ${label ? `"${label}"` : '(uninitialized)'}`;
    } catch {
      return `slot ${handleNumber(s)}`;
    }
  });
  throw new SignetError(
    'USAGE',
    `${shown}: PKCS#11 module ${uri.modulePath} has no ${which} (${have.length ? 'tokens: ' + have.join(', ') : 'no tokens'})`,
  );
}

async function pinFromSource(source: string): Promise<string> {
  const path = source.startsWith('file:') ? decodeURIComponent(source.replace(/^file:(\/\/(?=\/))?/, '')) : source;
  const data = await readFileLimited(path, FILE_LIMITS.small, `cannot read the PIN from pin-source ${path}`);
  return data.toString('utf8').replace(/\r?\n$/, '');
}

/**
 * The PIN for a token: the URI's `pin-value`, its `pin-source` file, `COSIGN_PKCS11_PIN`, or (when the
 * token needs a login and `ask` is set) a prompt. Undefined when none is needed or none may be asked.
 */
async function resolvePin(uri: Pkcs11Uri, token: TokenSummary, ask: boolean, prompt?: string): Promise<string | undefined> {
  if (uri.pin !== undefined) return uri.pin;
  if (uri.pinSource !== undefined) return pinFromSource(uri.pinSource);
  const env = process.env.COSIGN_PKCS11_PIN;
  if (env) return env;
  if (!token.loginRequired || !ask) return undefined;
  if (pinPrompt && process.stdin.isTTY) {
    const label = uri.object ?? (uri.id ? uri.id.toString('hex') : '');
    return pinPrompt(prompt ?? `Enter PIN for key '${label}' in PKCS11 token '${token.label}': `);
  }
  throw new SignetError(
    'KEY_PASSWORD',
    `PKCS#11 token "${token.label}" needs a PIN: add pin-value or pin-source to the URI, or set COSIGN_PKCS11_PIN`,
  );
}

function login(lib: Lib, session: Handle, pin: string, token: TokenSummary): void {
  try {
    lib.C_Login(session, p11().CKU_USER, pin);
  } catch (e) {
    const code = ckr(e);
    if (code === 'CKR_USER_ALREADY_LOGGED_IN') return;
    if (code === 'CKR_PIN_INCORRECT' || code === 'CKR_PIN_LEN_RANGE' || code === 'CKR_PIN_INVALID') {
      throw new SignetError('KEY_PASSWORD', `wrong PIN for PKCS#11 token "${token.label}"`, { cause: e });
    }
    if (code === 'CKR_PIN_LOCKED') throw new SignetError('KEY_PASSWORD', `the PIN of PKCS#11 token "${token.label}" is locked`, { cause: e });
    throw new SignetError('KEY_PASSWORD', `cannot log in to PKCS#11 token "${token.label}": ${oneLine(e)}`, { cause: e });
  }
}

function findObjects(lib: Lib, session: Handle, template: Array<{ type: number; value: number | Buffer | string }>): Handle[] {
  return call('search the token', () => {
    lib.C_FindObjectsInit(session, template);
    try {
      const out: Handle[] = [];
      for (;;) {
        const batch = lib.C_FindObjects(session, 32);
        if (batch.length === 0) return out;
        out.push(...batch);
      }
    } finally {
      lib.C_FindObjectsFinal(session);
    }
  });
}

function keySelector(uri: Pkcs11Uri): { type: number; value: Buffer | string } {
  const P = p11();
  // cosign: the id wins over the label when both are given.
  return uri.id ? { type: P.CKA_ID, value: uri.id } : { type: P.CKA_LABEL, value: uri.object! };
}

function describeKey(uri: Pkcs11Uri): string {
  return uri.id ? `id ${uri.id.toString('hex')}` : `label "${uri.object}"`;
}

function attr(lib: Lib, session: Handle, obj: Handle, type: number): Buffer {
  const [a] = lib.C_GetAttributeValue(session, obj, [{ type }]);
  const v = a?.value;
  if (!Buffer.isBuffer(v)) throw new Error('attribute has no value');
  return v;
}

const EC_CURVES: Record<string, { crv: string; size: number }> = {
  '06082a8648ce3d030107': { crv: 'P-256', size: 32 },
  '06052b81040022': { crv: 'P-384', size: 48 },
  '06052b81040023': { crv: 'P-521', size: 66 },
};

/** The uncompressed point from CKA_EC_POINT: DER OCTET STRING (PKCS#11's rule) or raw (some tokens). */
function ecPoint(value: Buffer, size: number): Buffer {
  const raw = 1 + 2 * size;
  if (value.length === raw && value[0] === 0x04) return value;
  const header = value.length - raw;
  if ((header === 2 || header === 3) && value[0] === 0x04 && value[header] === 0x04) return value.subarray(header);
  throw new Error('EC point is not an uncompressed point of its curve');
}

function publicKeyFromObject(lib: Lib, session: Handle, obj: Handle): KeyObject {
  const P = p11();
  const cls = attr(lib, session, obj, P.CKA_CLASS).readUInt32LE(0);
  if (cls === P.CKO_CERTIFICATE) {
    const der = attr(lib, session, obj, P.CKA_VALUE);
    return new X509Certificate(der).publicKey;
  }
  const type = attr(lib, session, obj, P.CKA_KEY_TYPE).readUInt32LE(0);
  if (type === P.CKK_EC) {
    const params = attr(lib, session, obj, P.CKA_EC_PARAMS).toString('hex');
    const curve = EC_CURVES[params];
    if (!curve) throw new SignetError('KEY_UNSUPPORTED', `the token's EC key is on a curve cosign does not allow (parameters ${params})`);
    const point = ecPoint(attr(lib, session, obj, P.CKA_EC_POINT), curve.size);
    const x = point.subarray(1, 1 + curve.size).toString('base64url');
    const y = point.subarray(1 + curve.size).toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: curve.crv, x, y }, format: 'jwk' });
  }
  if (type === P.CKK_RSA) {
    const n = attr(lib, session, obj, P.CKA_MODULUS).toString('base64url');
    const e = attr(lib, session, obj, P.CKA_PUBLIC_EXPONENT).toString('base64url');
    return createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' });
  }
  throw new SignetError('KEY_UNSUPPORTED', `PKCS#11 key type ${type} is not supported (use ECDSA P-256/P-384/P-521 or RSA)`);
}

/** The public key of the key pair the URI names: its public-key object, else a certificate with the same id/label. */
function findPublicKey(lib: Lib, session: Handle, uri: Pkcs11Uri, shown: string): PublicKeyInfo {
  const P = p11();
  for (const cls of [P.CKO_PUBLIC_KEY, P.CKO_CERTIFICATE]) {
    const found = findObjects(lib, session, [{ type: P.CKA_CLASS, value: cls }, keySelector(uri)]);
    if (found.length > 1) throw new SignetError('USAGE', `${shown}: ${found.length} objects match ${describeKey(uri)}; name the key by id`);
    if (found.length === 1) {
      let key: KeyObject;
      try {
        key = publicKeyFromObject(lib, session, found[0]!);
      } catch (e) {
        if (e instanceof SignetError) throw new SignetError(e.code, `${shown}: ${e.message}`, { cause: e });
        throw new SignetError('KEY_FORMAT', `${shown}: cannot read the public key: ${oneLine(e)}`, { cause: e });
      }
      return publicKeyInfo(key);
    }
  }
  throw new SignetError('USAGE', `${shown}: no public key or certificate with ${describeKey(uri)} in PKCS#11 token "${tokenName(uri)}"`);
}

/**
 * The certificate stored beside the key, as cosign's pkcs11key `Certificate()` finds it (crypto11's
 * FindCertificate: a certificate object with the URI's CKA_ID and CKA_LABEL, each when given; the first
 * one found), or undefined. It must certify the key's public key, as cosign requires.
 */
function findCertificate(lib: Lib, session: Handle, uri: Pkcs11Uri, shown: string, key: PublicKeyInfo): Buffer | undefined {
  const P = p11();
  const template: Array<{ type: number; value: number | Buffer | string }> = [{ type: P.CKA_CLASS, value: P.CKO_CERTIFICATE }];
  if (uri.id) template.push({ type: P.CKA_ID, value: uri.id });
  if (uri.object !== undefined) template.push({ type: P.CKA_LABEL, value: uri.object });
  const [obj] = findObjects(lib, session, template);
  if (!obj) return undefined;
  let der: Buffer;
  let certKey: PublicKeyInfo;
  try {
    der = attr(lib, session, obj, P.CKA_VALUE);
    certKey = publicKeyInfo(new X509Certificate(der).publicKey);
  } catch (e) {
    throw new SignetError('KEY_FORMAT', `${shown}: the token's certificate for ${describeKey(uri)} cannot be read: ${oneLine(e)}`, { cause: e });
  }
  if (!certKey.spkiDer.equals(key.spkiDer)) {
    throw new SignetError('KEY_SERVICE', `${shown}: the token's certificate for ${describeKey(uri)} does not certify the key's public key (pkcs11 key and certificate do not match)`);
  }
  return der;
}

function tokenName(uri: Pkcs11Uri): string {
  return uri.token ?? `slot ${uri.slotId}`;
}

function parse(ref: string): { uri: Pkcs11Uri; shown: string } {
  return { uri: parsePkcs11Uri(ref), shown: redactPin(ref) };
}

/**
 * The public key a `pkcs11:` URI names, read without prompting: public objects need no login, and a PIN
 * from the URI or COSIGN_PKCS11_PIN is used when there is one (some tokens hide public objects until then).
 */
export async function pkcs11PublicKey(ref: string): Promise<PublicKeyInfo> {
  const { uri, shown } = parse(ref);
  const token = await findToken(uri, shown);
  const { lib, slot } = token;
  const pin = await resolvePin(uri, token.info, false);
  const session = call('open a session', () => lib.C_OpenSession(slot, p11().CKF_SERIAL_SESSION));
  try {
    if (pin !== undefined) login(lib, session, pin, token.info);
    try {
      return findPublicKey(lib, session, uri, shown);
    } catch (e) {
      // Some tokens show their objects only after a login.
      if (pin === undefined && e instanceof SignetError && e.code === 'USAGE' && token.info.loginRequired) {
        throw new SignetError('USAGE', `${e.message} (without a login: if the token hides it until then, give the PIN with pin-value, pin-source or COSIGN_PKCS11_PIN)`, { cause: e });
      }
      throw e;
    }
  } finally {
    try {
      lib.C_CloseSession(session);
    } catch {
      // nothing to do
    }
  }
}

const DIGEST_INFO_SHA256 = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** DER ECDSA-Sig-Value from the raw r||s a token returns. */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new SignetError('KEY_FORMAT', `PKCS#11 token returned an ECDSA signature of ${raw.length} bytes`);
  const int = (b: Buffer): Buffer => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const half = raw.length / 2;
  const body = Buffer.concat([int(raw.subarray(0, half)), int(raw.subarray(half))]);
  const len = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length]);
  return Buffer.concat([Buffer.from([0x30]), len, body]);
}

const MAX_SESSIONS = 4;

/** A signer over a key in a token. Signing runs on the thread pool, in up to four sessions at once. */
class Pkcs11Signer implements Signer {
  readonly publicKey: PublicKeyInfo;
  readonly certificate?: Buffer;
  readonly #lib: Lib;
  readonly #slot: Handle;
  readonly #key: Handle;
  readonly #idle: Handle[];
  readonly #waiting: Array<(s: Handle) => void> = [];
  #open: number;
  readonly #shown: string;

  constructor(lib: Lib, slot: Handle, session: Handle, key: Handle, publicKey: PublicKeyInfo, shown: string, certificate?: Buffer) {
    this.#lib = lib;
    if (certificate) this.certificate = certificate;
    this.#slot = slot;
    this.#key = key;
    this.#idle = [session];
    this.#open = 1;
    this.publicKey = publicKey;
    this.#shown = shown;
  }

  async #acquire(): Promise<Handle> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    if (this.#open < MAX_SESSIONS) {
      this.#open++;
      try {
        // A login holds for every session of this process with the token.
        return this.#lib.C_OpenSession(this.#slot, p11().CKF_SERIAL_SESSION);
      } catch {
        this.#open--;
      }
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(session: Handle): void {
    const next = this.#waiting.shift();
    if (next) next(session);
    else this.#idle.push(session);
  }

  async sign(data: Uint8Array): Promise<Buffer> {
    const P = p11();
    const hash = this.publicKey.hash!;
    const digest = createHash(hash).update(data).digest();
    const rsa = this.publicKey.kind === 'rsa';
    const input = rsa ? Buffer.concat([DIGEST_INFO_SHA256, digest]) : digest;
    const session = await this.#acquire();
    let raw: Buffer;
    try {
      this.#lib.C_SignInit(session, { mechanism: rsa ? P.CKM_RSA_PKCS : P.CKM_ECDSA }, this.#key);
      raw = await this.#lib.C_SignAsync(session, input, Buffer.alloc(rsa ? 1024 : 144));
    } catch (e) {
      throw new SignetError('KEY_SERVICE', `${this.#shown}: the PKCS#11 token did not sign: ${oneLine(e)}`, { cause: e });
    } finally {
      this.#release(session);
    }
    const sig = rsa ? Buffer.from(raw) : ecdsaRawToDer(raw);
    if (!verifySignature(this.publicKey, data, sig)) {
      throw new SignetError('KEY_SERVICE', `${this.#shown}: the token's signature does not verify with its public key (the private and public objects are not one key pair)`);
    }
    return sig;
  }
}

/** A signer for the private key a `pkcs11:` URI names; logs in with the PIN (asking for it when allowed). */
export async function pkcs11Signer(ref: string): Promise<Signer> {
  const { uri, shown } = parse(ref);
  const token = await findToken(uri, shown);
  const { lib, slot } = token;
  const P = p11();
  const pin = await resolvePin(uri, token.info, true);
  const session = call('open a session', () => lib.C_OpenSession(slot, P.CKF_SERIAL_SESSION));
  try {
    if (pin !== undefined) login(lib, session, pin, token.info);
    const found = findObjects(lib, session, [{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }, keySelector(uri)]);
    if (found.length === 0) {
      throw new SignetError('USAGE', `${shown}: no private key with ${describeKey(uri)} in PKCS#11 token "${token.info.label}"`);
    }
    if (found.length > 1) throw new SignetError('USAGE', `${shown}: ${found.length} private keys match ${describeKey(uri)}; name the key by id`);
    const publicKey = findPublicKey(lib, session, uri, shown);
    if (publicKey.kind === 'ed25519') throw new SignetError('KEY_UNSUPPORTED', `${shown}: Ed25519 keys in PKCS#11 tokens are not supported`);
    const certificate = findCertificate(lib, session, uri, shown, publicKey);
    return new Pkcs11Signer(lib, slot, session, found[0]!, publicKey, shown, certificate);
  } catch (e) {
    try {
      lib.C_CloseSession(session);
    } catch {
      // nothing to do
    }
    throw e;
  }
}

export interface KeyUri {
  label?: string;
  id?: Buffer;
  uri: string;
}

/** The private keys of the token in `slotId`, with the URIs cosign's `pkcs11-tool list-keys-uris` prints. */
export async function listKeyUris(modulePath: string, slotId: number, pin: string | undefined): Promise<{ token: TokenSummary; keys: KeyUri[] }> {
  const uri: Pkcs11Uri = { modulePath, slotId, object: '*' };
  const shown = `slot ${slotId}`;
  const token = await findToken(uri, shown);
  const { lib, slot } = token;
  const P = p11();
  const thePin = pin || (await resolvePin({ modulePath }, token.info, true, `Enter PIN for PKCS11 token '${token.info.label}': `));
  const session = call('open a session', () => lib.C_OpenSession(slot, P.CKF_SERIAL_SESSION));
  try {
    if (thePin !== undefined) login(lib, session, thePin, token.info);
    const keys: KeyUri[] = [];
    for (const h of findObjects(lib, session, [{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }])) {
      const [idAttr, labelAttr] = lib.C_GetAttributeValue(session, h, [{ type: P.CKA_ID }, { type: P.CKA_LABEL }]);
      const id = Buffer.isBuffer(idAttr?.value) && idAttr.value.length > 0 ? idAttr.value : undefined;
      const label = Buffer.isBuffer(labelAttr?.value) && labelAttr.value.length > 0 ? labelAttr.value.toString('utf8') : undefined;
      if (!id && !label) continue;
      const k: KeyUri = {
        uri: formatPkcs11Uri({ modulePath, token: token.info.label, slotId, ...(id ? { id } : {}), ...(label ? { object: label } : {}), ...(thePin ? { pin: thePin } : {}) }),
      };
      if (label) k.label = label;
      if (id) k.id = id;
      keys.push(k);
    }
    return { token: token.info, keys };
  } finally {
    try {
      lib.C_CloseSession(session);
    } catch {
      // nothing to do
    }
  }
}
