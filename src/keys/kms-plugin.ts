/**
 * cosign's KMS plug-in protocol (sigstore `pkg/signature/kms/cliplugin`, protocol version 1): a key
 * reference `NAME://ID` whose scheme has an executable `sigstore-kms-NAME` on PATH is served by that
 * program. Each method is one run: argv[1] is the protocol version, argv[2] the JSON of the method's
 * arguments with the init options (`keyResourceID` is the part after `://`), stdin the message to sign,
 * stdout the JSON answer (`errorMessage` for a failure; the exit status is ignored, as in sigstore), and
 * the program's stderr goes to ours. Byte fields are base64, as Go's encoding/json writes []byte; answer
 * field names are matched without regard to case, as Go's decoder does. Every signature is checked
 * with the key's public key before it is returned. Runs are bounded by the command's deadline (net.ts)
 * and their answers capped at 1 MiB.
 */
import { spawn } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SignetError } from '../errors.js';
import { abortError, netOptions } from '../net.js';
import { parsePublicKey, verifySignature, type HashAlg, type PublicKeyInfo, type Signer } from './keys.js';

export const KMS_PLUGIN_PREFIX = 'sigstore-kms-';
export const KMS_PROTOCOL_VERSION = '1';
const MAX_ANSWER = 1024 * 1024;

/** Go's crypto.Hash numbers, which the protocol carries. */
const HASH_FUNC: Record<HashAlg, number> = { sha256: 5, sha384: 6, sha512: 7 };
const SHA256 = 5;

export interface KmsRef {
  scheme: string;
  keyResourceID: string;
  executable: string;
}

/** `NAME://ID` split as sigstore splits it; undefined for anything else. */
export function parseKmsRef(ref: string): { scheme: string; keyResourceID: string } | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s.exec(ref);
  return m ? { scheme: m[1]!, keyResourceID: m[2]! } : undefined;
}

/** The plug-in executable for `scheme` on PATH, or undefined when there is none. */
export async function findKmsPlugin(scheme: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  const name = KMS_PLUGIN_PREFIX + scheme;
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      const st = await fs.stat(candidate);
      if (!st.isFile()) continue;
      await fs.access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The same key reference resolved to its plug-in, or undefined when no plug-in serves the scheme. */
export async function resolveKmsRef(ref: string): Promise<KmsRef | undefined> {
  const parsed = parseKmsRef(ref);
  if (!parsed) return undefined;
  const executable = await findKmsPlugin(parsed.scheme);
  return executable ? { ...parsed, executable } : undefined;
}

/** A field of a plug-in's answer, its name matched case-insensitively (Go's encoding/json). */
function field(obj: unknown, name: string): unknown {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  const rec = obj as Record<string, unknown>;
  if (name in rec) return rec[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(rec)) if (k.toLowerCase() === lower) return rec[k];
  return undefined;
}

function bytesField(obj: unknown, name: string, who: string, what: string): Buffer {
  const v = field(obj, name);
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length === 0) {
    throw new SignetError('KEY_SERVICE', `${who} answered ${what} without a base64 "${name}"`);
  }
  return Buffer.from(v, 'base64');
}

export class KmsPluginClient {
  readonly ref: KmsRef;
  /** The hash the init options name (Go crypto.Hash number). */
  hashFunc: number;

  constructor(ref: KmsRef, hashFunc = SHA256) {
    this.ref = ref;
    this.hashFunc = hashFunc;
  }

  get name(): string {
    return `KMS plug-in ${KMS_PLUGIN_PREFIX}${this.ref.scheme}`;
  }

  /** Run one method; resolves with the method's part of the answer. */
  async invoke(method: string, args: Record<string, unknown>, stdin?: Uint8Array): Promise<unknown> {
    const { signal } = netOptions();
    const doing = `waiting for ${this.name} (${method})`;
    if (signal?.aborted) throw abortError(signal, doing);
    const payload = JSON.stringify({
      methodName: method,
      [method]: args,
      initOptions: { protocolVersion: KMS_PROTOCOL_VERSION, keyResourceID: this.ref.keyResourceID, hashFunc: this.hashFunc },
    });
    const out = await new Promise<{ stdout: Buffer; status: number | null; signalName: string | null }>((resolve, reject) => {
      const child = spawn(this.ref.executable, [KMS_PROTOCOL_VERSION, payload], { stdio: ['pipe', 'pipe', 'inherit'] });
      const chunks: Buffer[] = [];
      let size = 0;
      let failed = false;
      const fail = (e: SignetError): void => {
        if (failed) return;
        failed = true;
        child.kill('SIGKILL');
        reject(e);
      };
      const onAbort = (): void => fail(abortError(signal!, doing));
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => fail(new SignetError('IO', `cannot run ${this.ref.executable}: ${e.message}`, { cause: e })));
      child.stdout.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_ANSWER) fail(new SignetError('TOO_LARGE', `${this.name} answered more than ${MAX_ANSWER} bytes`));
        else chunks.push(d);
      });
      child.stdin.on('error', () => undefined); // a plug-in that exits without reading its input
      child.stdin.end(stdin ? Buffer.from(stdin) : undefined);
      child.on('close', (status, signalName) => {
        signal?.removeEventListener('abort', onAbort);
        if (!failed) resolve({ stdout: Buffer.concat(chunks), status, signalName });
      });
    });
    if (out.signalName) throw new SignetError('KEY_SERVICE', `${this.name} was killed by ${out.signalName} during ${method}`);
    let answer: unknown;
    try {
      answer = JSON.parse(out.stdout.toString('utf8'));
    } catch {
      const status = out.status ? ` and exited with status ${out.status}` : '';
      throw new SignetError('KEY_SERVICE', `${this.name} answered ${method} with something that is not JSON${status}`);
    }
    if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
      throw new SignetError('KEY_SERVICE', `${this.name} answered ${method} with JSON that is not an object`);
    }
    const message = field(answer, 'errorMessage');
    if (typeof message === 'string' && message !== '') {
      throw new SignetError('KEY_SERVICE', `${this.name}: ${method}: ${message.replace(/\s*\n\s*/g, ' ')}`);
    }
    const part = field(answer, method);
    if (part === undefined || part === null) {
      const status = out.status ? ` (it exited with status ${out.status})` : '';
      throw new SignetError('KEY_SERVICE', `${this.name} answered ${method} without a "${method}" result${status}`);
    }
    return part;
  }

  async defaultAlgorithm(): Promise<string> {
    const v = field(await this.invoke('defaultAlgorithm', {}), 'defaultAlgorithm');
    if (typeof v !== 'string' || v === '') throw new SignetError('KEY_SERVICE', `${this.name} answered defaultAlgorithm without an algorithm`);
    return v;
  }

  #pem(part: unknown, method: string): PublicKeyInfo {
    const pem = bytesField(part, 'publicKeyPEM', this.name, method);
    try {
      return parsePublicKey(pem);
    } catch (e) {
      const why = e instanceof SignetError ? e.message : String(e);
      throw new SignetError('KEY_SERVICE', `${this.name} answered ${method} with an unusable public key: ${why}`, { cause: e });
    }
  }

  async publicKey(): Promise<PublicKeyInfo> {
    return this.#pem(await this.invoke('publicKey', { publicKeyOptions: {} }), 'publicKey');
  }

  async createKey(algorithm: string): Promise<PublicKeyInfo> {
    return this.#pem(await this.invoke('createKey', { algorithm }), 'createKey');
  }

  async signMessage(message: Uint8Array, hashFunc: number): Promise<Buffer> {
    const part = await this.invoke('signMessage', { signOptions: { hashFunc } }, message);
    return bytesField(part, 'signature', this.name, 'signMessage');
  }
}

class KmsPluginSigner implements Signer {
  readonly publicKey: PublicKeyInfo;
  readonly #client: KmsPluginClient;
  readonly #hashFunc: number;
  constructor(client: KmsPluginClient, publicKey: PublicKeyInfo) {
    this.#client = client;
    this.publicKey = publicKey;
    this.#hashFunc = publicKey.hash ? HASH_FUNC[publicKey.hash] : 0;
    // Sign with the hash Signet uses for this key type (P-384: SHA-384), and say so in the init options.
    client.hashFunc = this.#hashFunc;
  }
  async sign(data: Uint8Array): Promise<Buffer> {
    const sig = await this.#client.signMessage(data, this.#hashFunc);
    if (!verifySignature(this.publicKey, data, sig)) {
      throw new SignetError('KEY_SERVICE', `${this.#client.name} returned a signature that does not verify with the key's public key`);
    }
    return sig;
  }
}

export async function kmsPluginSigner(ref: KmsRef): Promise<Signer> {
  const client = new KmsPluginClient(ref);
  return new KmsPluginSigner(client, await client.publicKey());
}

export async function kmsPluginPublicKey(ref: KmsRef): Promise<PublicKeyInfo> {
  return new KmsPluginClient(ref).publicKey();
}

/** `generate-key-pair --kms NAME://…`: the plug-in creates the key with its default algorithm, as cosign does. */
export async function kmsPluginCreateKey(ref: KmsRef): Promise<PublicKeyInfo> {
  const client = new KmsPluginClient(ref);
  return client.createKey(await client.defaultAlgorithm());
}
