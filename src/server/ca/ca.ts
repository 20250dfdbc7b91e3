/**
 * A Fulcio-compatible code-signing CA as a library service. It binds a public key to the identity of a
 * verified OIDC token with a 10-minute leaf certificate, profiled exactly as Fulcio issues them
 * (sigstore-services.md §3.2/§3.3), under a root → intermediate chain that is created in the data dir
 * on first start or loaded from operator-provided files.
 *
 * There is no CT log: leaves carry no SCT (no precertificate, no poison, no SCT list) and the trusted
 * root this CA describes lists no ctlogs. Verifiers must therefore be told not to demand SCTs.
 */
import {
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  type webcrypto,
  X509Certificate,
} from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { SignetError } from '../../errors.js';
import { ioError, readTextIfExists, writeFileAtomic } from '../../fsutil.js';
import { decodePemBlocks, encodePem } from '../../keys/pem.js';
import { decryptPrivateKey, isEncryptedKeyLabel } from '../../keys/encrypted.js';
import { parsePublicKey, verifySignature, type PublicKeyInfo } from '../../keys/keys.js';
import type { OidcConfig } from '../oidc/config.js';
import type { Principal } from '../oidc/principal.js';
import { x509 } from './x509.js';
import { leafSigner, leafTbs, sanExtension, subjectKeyIdOf, type LeafExtension, type LeafSigner } from './leaf.js';
import { OID_EKU_CODE_SIGNING, parseCertificate } from '../../sigstore/certificate.js';
import { derOidEncode, derTlv } from '../../sigstore/der.js';

export const LEAF_VALIDITY_MS = 10 * 60_000;
const CA_VALIDITY_MS = 10 * 365 * 24 * 3600_000;

/** What the CA needs from the OIDC layer: verification, and the config for `/api/v2/configuration`. */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
  readonly config?: OidcConfig;
}

export interface CaOptions {
  /** Server data dir; the generated chain lives in `<dataDir>/ca/`. */
  dataDir: string;
  oidc: TokenVerifier;
  /** Issuing key (PEM PKCS#8/SEC1, cosign/sigstore encrypted PEM, or a KeyObject); needs `caCert`. */
  caKey?: KeyObject | string;
  /** Password for an encrypted `caKey`. */
  caKeyPassword?: Uint8Array;
  /** PEM chain for `caKey`: the issuing certificate first, then each parent up to a self-signed root. */
  caCert?: string;
  /** Public URL of the CA, for the trusted root's `uri`. */
  url?: string;
  /** Injected clock, for tests. */
  now?: () => Date;
}

export interface IssueRequest {
  token: string;
  /** PEM (or DER) SubjectPublicKeyInfo of the key to certify; with `proofOfPossession`. */
  publicKey?: string | Buffer;
  /** Signature by that key over the token's challenge claim value (email, or sub). */
  proofOfPossession?: Buffer;
  /** Alternative to publicKey + proof: a PKCS#10 CSR (PEM or DER); its self-signature is the proof. */
  csr?: string | Buffer;
}

export interface IssuedCertificate {
  /** PEM leaf. */
  certificate: string;
  /** PEM leaf, intermediate(s), root — the order Fulcio answers with. */
  chain: string[];
  principal: Principal;
}

export interface TrustedRootCertificateAuthority {
  subject: { organization: string; commonName: string };
  uri: string;
  certChain: { certificates: { rawBytes: string }[] };
  validFor: { start: string; end?: string };
}

/** The CA itself; its HTTP routes are layered on top by api.ts (index.ts's createCa joins the two). */
export interface CaCore {
  issue(req: IssueRequest): Promise<IssuedCertificate>;
  /** PEM issuing certificate up to the root. */
  chainPem(): string[];
  /** The `certificateAuthorities[]` element of a trusted_root.json describing this CA. */
  trustedRootCertificateAuthority(uri?: string): TrustedRootCertificateAuthority;
}

interface SigningAlg {
  importAlg: Parameters<KeyObject['toCryptoKey']>[0];
  signAlg: { name: string; hash?: string };
}

function signingAlgFor(key: KeyObject): SigningAlg {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const m: Record<string, [string, string]> = {
        prime256v1: ['P-256', 'SHA-256'],
        secp384r1: ['P-384', 'SHA-384'],
        secp521r1: ['P-521', 'SHA-512'],
      };
      const c = curve ? m[curve] : undefined;
      if (!c) throw new SignetError('KEY_UNSUPPORTED', `CA key curve ${curve ?? 'unknown'} is not allowed (use P-256, P-384 or P-521)`);
      return { importAlg: { name: 'ECDSA', namedCurve: c[0] }, signAlg: { name: 'ECDSA', hash: c[1] } };
    }
    case 'rsa': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) throw new SignetError('KEY_UNSUPPORTED', `CA RSA key of ${bits} bits is too small (use 2048 or more)`);
      return {
        importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        signAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      };
    }
    case 'ed25519':
      return { importAlg: { name: 'Ed25519' }, signAlg: { name: 'Ed25519' } };
    default:
      throw new SignetError('KEY_UNSUPPORTED', `CA key type ${key.asymmetricKeyType ?? 'unknown'} is not supported`);
  }
}

async function toSigningCryptoKey(key: KeyObject): Promise<{ key: webcrypto.CryptoKey; alg: SigningAlg }> {
  const alg = signingAlgFor(key);
  return { key: await key.toCryptoKey(alg.importAlg, false, ['sign']), alg };
}

/** A positive 20-byte serial with 159 random bits; the leading byte is never 0 so DER keeps all 20. */
function randomSerialHex(): string {
  const b = randomBytes(20);
  b[0] = (b[0]! & 0x7f) || 0x01;
  return b.toString('hex');
}

function pemOf(der: ArrayBuffer | Uint8Array): string {
  return encodePem('CERTIFICATE', der instanceof Uint8Array ? der : new Uint8Array(der));
}

interface LoadedChain {
  /** Signs leaves with the issuing key (see leaf.ts). */
  leafSigner: LeafSigner;
  /** Issuing certificate first, root last. */
  certs: X509Certificate[];
  issuingSki: string;
}

function checkChain(certs: X509Certificate[], key: KeyObject, where: string): void {
  if (certs.length === 0) throw new SignetError('MALFORMED', `${where}: no certificates`);
  if (!certs[0]!.checkPrivateKey(key)) {
    throw new SignetError('KEY_FORMAT', `${where}: the CA key does not belong to the first certificate`);
  }
  if (!certs[0]!.ca) throw new SignetError('MALFORMED', `${where}: the issuing certificate is not a CA certificate`);
  for (let i = 0; i < certs.length; i++) {
    const c = certs[i]!;
    const parent = certs[i + 1] ?? c;
    if (!c.checkIssued(parent) || !c.verify(parent.publicKey)) {
      throw new SignetError(
        'MALFORMED',
        i + 1 < certs.length
          ? `${where}: certificate ${i + 1} is not signed by certificate ${i + 2}`
          : `${where}: the last certificate is not a self-signed root`,
      );
    }
  }
}

function parseChainPem(text: string, where: string): X509Certificate[] {
  const blocks = decodePemBlocks(text).filter((b) => b.label === 'CERTIFICATE');
  try {
    return blocks.map((b) => new X509Certificate(b.der));
  } catch (e) {
    throw new SignetError('MALFORMED', `${where}: a certificate does not parse`, { cause: e });
  }
}

function loadKey(key: KeyObject | string, password: Uint8Array | undefined): KeyObject {
  if (typeof key !== 'string') return key;
  const block = decodePemBlocks(key)[0];
  if (block && isEncryptedKeyLabel(block.label)) {
    if (!password) throw new SignetError('KEY_PASSWORD', 'the CA key is encrypted; a password is needed');
    return decryptPrivateKey(key, password);
  }
  try {
    return createPrivateKey(key);
  } catch (e) {
    throw new SignetError('KEY_FORMAT', 'the CA key is not a PEM private key', { cause: e });
  }
}

async function generateChain(dir: string, now: Date): Promise<void> {
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + CA_VALIDITY_MS);
  const root = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const inter = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const rootSign = await toSigningCryptoKey(root.privateKey);
  const rootSpki = root.publicKey.export({ type: 'spki', format: 'der' });
  const interSpki = inter.publicKey.export({ type: 'spki', format: 'der' });
  const rootSki = subjectKeyIdOf(rootSpki);
  const caUsage = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
  const rootCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: 'O=signet, CN=signet-root',
    issuer: 'O=signet, CN=signet-root',
    notBefore,
    notAfter,
    publicKey: rootSpki,
    signingKey: rootSign.key,
    signingAlgorithm: rootSign.alg.signAlg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(caUsage, true),
      new x509.SubjectKeyIdentifierExtension(rootSki),
    ],
  });
  const interCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: 'O=signet, CN=signet-intermediate',
    issuer: rootCert.subjectName,
    notBefore,
    notAfter,
    publicKey: interSpki,
    signingKey: rootSign.key,
    signingAlgorithm: rootSign.alg.signAlg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(caUsage, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.codeSigning], false),
      new x509.SubjectKeyIdentifierExtension(subjectKeyIdOf(interSpki)),
      new x509.AuthorityKeyIdentifierExtension(rootSki),
    ],
  });
  const pkcs8 = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }).toString();
  // Keys first, the chain last: the chain file is what marks a complete CA directory.
  await writeFileAtomic(join(dir, 'root-key.pem'), pkcs8(root.privateKey), 0o600);
  await writeFileAtomic(join(dir, 'intermediate-key.pem'), pkcs8(inter.privateKey), 0o600);
  await writeFileAtomic(join(dir, 'chain.pem'), pemOf(interCert.rawData) + pemOf(rootCert.rawData), 0o644);
}

/**
 * First start: build the whole CA in a private temp directory and rename it into place. A directory
 * rename is atomic, so a crash leaves no half CA, and when two servers start at once exactly one
 * rename wins; the loser discards its keys and loads the winner's.
 */
async function createCaDir(dataDir: string, dir: string, now: Date): Promise<void> {
  const tmp = join(dataDir, `.ca.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await fs.mkdir(dataDir, { recursive: true });
    await fs.mkdir(tmp, { mode: 0o700 });
  } catch (e) {
    throw ioError(`cannot create ${tmp}`, e);
  }
  try {
    await generateChain(tmp, now);
    await fs.rename(tmp, dir);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') return;
    throw e instanceof SignetError ? e : ioError(`cannot create ${dir}`, e);
  }
}

async function loadChain(opts: CaOptions, now: Date): Promise<LoadedChain> {
  let key: KeyObject;
  let certs: X509Certificate[];
  if (opts.caKey !== undefined || opts.caCert !== undefined) {
    if (opts.caKey === undefined || opts.caCert === undefined) {
      throw new SignetError('USAGE', 'a CA key and its certificate chain must be given together');
    }
    key = loadKey(opts.caKey, opts.caKeyPassword);
    certs = parseChainPem(opts.caCert, 'CA certificate chain');
    checkChain(certs, key, 'CA certificate chain');
  } else {
    const dir = join(opts.dataDir, 'ca');
    let chainText = await readTextIfExists(join(dir, 'chain.pem'));
    if (chainText === undefined) {
      await createCaDir(opts.dataDir, dir, now);
      chainText = await readTextIfExists(join(dir, 'chain.pem'));
      if (chainText === undefined) throw new SignetError('IO', `${dir} exists but holds no chain.pem; move it away to create a new CA`);
    }
    const keyPath = join(dir, 'intermediate-key.pem');
    const keyText = await readTextIfExists(keyPath);
    if (keyText === undefined) throw new SignetError('IO', `${keyPath} is missing while ${join(dir, 'chain.pem')} exists`);
    key = loadKey(keyText, undefined);
    certs = parseChainPem(chainText, join(dir, 'chain.pem'));
    checkChain(certs, key, join(dir, 'chain.pem'));
  }
  signingAlgFor(key); // refuses keys the CA does not sign with, with the same errors as at first start
  const issuingSpki = certs[0]!.publicKey.export({ type: 'spki', format: 'der' });
  return { leafSigner: leafSigner(key), certs, issuingSki: subjectKeyIdOf(issuingSpki) };
}

/** Fulcio's `goodkey` policy on top of the key module's: RSA only 2048–4096 bits with e = 65537. */
function checkSubjectKey(pub: PublicKeyInfo): void {
  if (pub.kind !== 'rsa') return;
  const d = pub.key.asymmetricKeyDetails ?? {};
  const bits = d.modulusLength ?? 0;
  if (bits > 4096) throw new SignetError('KEY_UNSUPPORTED', `RSA key size ${bits} is not allowed (use 2048 to 4096 bits)`);
  if (d.publicExponent !== 65537n) throw new SignetError('KEY_UNSUPPORTED', 'RSA public exponent must be 65537');
}

function parseCsr(input: string | Buffer): x509.Pkcs10CertificateRequest {
  try {
    const text = typeof input === 'string' ? input : undefined;
    if (text !== undefined && text.includes('-----BEGIN')) return new x509.Pkcs10CertificateRequest(text);
    return new x509.Pkcs10CertificateRequest(typeof input === 'string' ? Buffer.from(input, 'base64') : input);
  } catch (e) {
    throw new SignetError('MALFORMED', 'certificate signing request does not parse', { cause: e });
  }
}

export async function createCaCore(opts: CaOptions): Promise<CaCore> {
  const clock = opts.now ?? (() => new Date());
  const chain = await loadChain(opts, clock());
  const chainPem = chain.certs.map((c) => c.toString());
  // The leaf's issuer is the issuing certificate's subject byte for byte (chains are built by byte equality).
  const issuerRaw = Buffer.from(parseCertificate(chain.certs[0]!.raw, 'CA certificate').subjectRaw);
  const kuDigitalSignature: LeafExtension = { oid: '2.5.29.15', critical: true, value: Buffer.from([0x03, 0x02, 0x07, 0x80]) };
  const ekuCodeSigning: LeafExtension = { oid: '2.5.29.37', critical: false, value: derTlv(0x30, derOidEncode(OID_EKU_CODE_SIGNING)) };
  const aki: LeafExtension = { oid: '2.5.29.35', critical: false, value: derTlv(0x30, derTlv(0x80, Buffer.from(chain.issuingSki, 'hex'))) };

  async function subjectKeyFrom(req: IssueRequest, principal: Principal): Promise<PublicKeyInfo> {
    if (req.csr !== undefined) {
      if (req.publicKey !== undefined) throw new SignetError('USAGE', 'give either a public key or a CSR, not both');
      const csr = parseCsr(req.csr);
      const pub = parsePublicKey(Buffer.from(csr.publicKey.rawData));
      checkSubjectKey(pub);
      let ok = false;
      try {
        ok = await csr.verify();
      } catch {
        ok = false;
      }
      if (!ok) throw new SignetError('VERIFICATION', 'the CSR signature does not verify with its own public key');
      return pub;
    }
    if (req.publicKey === undefined) throw new SignetError('USAGE', 'a public key (with proof of possession) or a CSR is required');
    const pub = parsePublicKey(req.publicKey);
    checkSubjectKey(pub);
    if (!req.proofOfPossession || req.proofOfPossession.length === 0) {
      throw new SignetError('USAGE', 'a proof of possession is required with a public key');
    }
    if (!verifySignature(pub, Buffer.from(principal.challengeClaimValue, 'utf8'), req.proofOfPossession)) {
      throw new SignetError(
        'VERIFICATION',
        'the proof of possession is not a signature by the submitted key over the token subject',
      );
    }
    return pub;
  }

  return {
    async issue(req: IssueRequest): Promise<IssuedCertificate> {
      const principal = await opts.oidc.verify(req.token);
      const pub = await subjectKeyFrom(req, principal);
      const now = clock();
      const notAfter = new Date(now.getTime() + LEAF_VALIDITY_MS);
      if (notAfter.getTime() > new Date(chain.certs[0]!.validTo).getTime()) {
        throw new SignetError('INTERNAL', 'the CA certificate expires before a certificate issued now would; renew the CA');
      }
      // Whole seconds, as the x509 library wrote them (Time has no fraction).
      const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
      const tbs = leafTbs({
        serial: Buffer.from(randomSerialHex(), 'hex'),
        issuerRaw,
        notBefore,
        notAfter: new Date(notBefore.getTime() + LEAF_VALIDITY_MS),
        spkiDer: pub.spkiDer,
        signatureAlgorithm: chain.leafSigner.algorithm,
        extensions: [
          kuDigitalSignature,
          ekuCodeSigning,
          { oid: '2.5.29.14', critical: false, value: derTlv(0x04, Buffer.from(subjectKeyIdOf(pub.spkiDer), 'hex')) },
          aki,
          sanExtension(principal),
          ...principal.extensions.map((e) => ({ oid: e.oid, critical: false, value: e.value })),
        ],
      });
      const certificate = pemOf(await chain.leafSigner.sign(tbs));
      return { certificate, chain: [certificate, ...chainPem], principal };
    },
    chainPem: () => [...chainPem],
    trustedRootCertificateAuthority(uri?: string): TrustedRootCertificateAuthority {
      const root = new x509.X509Certificate(chain.certs[chain.certs.length - 1]!.raw);
      const issuing = chain.certs[0]!;
      return {
        subject: {
          organization: root.subjectName.getField('O')[0] ?? '',
          commonName: root.subjectName.getField('CN')[0] ?? '',
        },
        uri: uri ?? opts.url ?? '',
        certChain: { certificates: chain.certs.map((c) => ({ rawBytes: c.raw.toString('base64') })) },
        validFor: { start: new Date(issuing.validFrom).toISOString() },
      };
    },
  };
}
