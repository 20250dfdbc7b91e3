/** `signet bundle create`: a Sigstore bundle assembled from a signature made elsewhere, as cosign's. */
import type { Command } from 'commander';
import { SignetError } from '../../errors.js';
import { FILE_LIMITS, writeFileAtomic } from '../../fsutil.js';
import { loadPublicKey } from '../../keys/index.js';
import { decodeSignatureFile } from '../../cosign/attach.js';
import { readBlob, readSmallFile } from '../../cosign/blob-io.js';
import { createAttestationBundle, createBundle } from '../../cosign/bundle-create.js';
import { certificatesFromPem, parseTimestampJson } from '../../cosign/pki.js';
import { decodeBase64Strict } from '../../sigstore/encoding.js';
import { boolOpt, examples, opt, ui } from '../common.js';

interface CreateFlags {
  artifact?: string;
  attestation?: string;
  sk: boolean;
  slot?: string;
  signature?: string;
  bundle?: string;
  key?: string;
  certificate?: string;
  rekorUrl: string;
  ignoreTlog: boolean;
  rfc3161Timestamp?: string;
  out?: string;
}

export function registerBundleCommands(program: Command): void {
  const bundle = program.command('bundle').description('interact with Sigstore bundles');
  const create = bundle
    .command('create')
    .description('create a Sigstore bundle (v0.3) from a signature over an artifact, its key or certificate, the log entry and timestamps')
    .addOption(opt('--artifact <file>', 'the signed artifact (required)'))
    .addOption(opt('--signature <file>', 'the signature over the artifact: base64 (cosign) or raw bytes (openssl dgst -sign)'))
    .addOption(opt('--attestation <file>', 'a signed DSSE envelope (JSON, one signature: attest-blob --output-signature, or made elsewhere) instead of --signature: a DSSE bundle for verify-blob-attestation; with --artifact, its statement must name the artifact'))
    .addOption(boolOpt('--sk', 'cosign: take the public key from a hardware security key over PIV (not supported here: use --key with the token\'s public key or a pkcs11: URI)'))
    .addOption(opt('--slot <slot>', 'cosign: the PIV slot of --sk (authentication|signature|card-authentication|key-management)'))
    .addOption(opt('--bundle <file>', 'cosign\'s old bundle format (LocalSignedPayload, from sign-blob --new-bundle-format=false): its signature and certificate'))
    .addOption(opt('--key <ref>', 'the public key: a file path or env://VAR (PEM public key, or a cosign key)'))
    .addOption(opt('--certificate <file>', 'the signing certificate, PEM (or base64 of the PEM); the bundle carries it instead of a key hint'))
    .addOption(opt('--rekor-url <url>', 'Rekor v1 log to fetch the signature\'s entry from', 'https://rekor.sigstore.dev'))
    .addOption(boolOpt('--ignore-tlog', 'do not look the signature up in a transparency log: the bundle carries no log entry'))
    .addOption(opt('--rfc3161-timestamp <file>', 'cosign\'s RFC 3161 timestamp JSON ({"SignedRFC3161Timestamp": …}) over the signature'))
    .addOption(opt('--out <file>', 'write the bundle to FILE (default: standard output)'));
  examples(create, [
    'openssl dgst -sha256 -sign key.pem -out artifact.sig artifact && signet bundle create --artifact artifact --signature artifact.sig --key pub.pem --rekor-url http://127.0.0.1:3000 --out artifact.sigstore.json',
    'signet bundle create --artifact artifact --signature artifact.sig --certificate cert.pem --ignore-tlog --rfc3161-timestamp ts.json --out artifact.sigstore.json',
    'signet bundle create --artifact artifact --bundle artifact.legacy.json --key cosign.pub --rekor-url http://127.0.0.1:3000 --out artifact.sigstore.json',
    'signet verify-blob --key pub.pem --trusted-root trusted_root.json --bundle artifact.sigstore.json artifact',
    'signet bundle create --attestation artifact.intoto.json --artifact artifact --key pub.pem --rekor-url http://127.0.0.1:3000 --out artifact.att.sigstore.json',
    'signet verify-blob-attestation --key pub.pem --trusted-root trusted_root.json --type slsaprovenance1 --bundle artifact.att.sigstore.json artifact',
  ]);
  create.action(async (flags: CreateFlags) => {
    if (flags.sk || flags.slot !== undefined) {
      throw new SignetError(
        'KEY_UNSUPPORTED',
        '--sk/--slot: Signet has no PIV (smart card) support, so it cannot read a hardware security key directly; pass the token\'s public key with --key (a PEM file, or a pkcs11: URI through the token\'s PKCS#11 module, e.g. ykcs11 or OpenSC)',
      );
    }
    if (flags.attestation) {
      if (flags.signature || flags.bundle) throw new SignetError('USAGE', '--attestation carries its own signature: give it without --signature or --bundle');
      const certificate = flags.certificate ? await readCertificate(flags.certificate) : undefined;
      const key = flags.key ? await loadPublicKey(flags.key) : undefined;
      const rfc3161Timestamps = flags.rfc3161Timestamp
        ? [parseTimestampJson((await readSmallFile(flags.rfc3161Timestamp, '--rfc3161-timestamp', FILE_LIMITS.small)).toString('utf8'), `--rfc3161-timestamp ${flags.rfc3161Timestamp}`)]
        : [];
      const r = await createAttestationBundle({
        envelope: await readSmallFile(flags.attestation, '--attestation'),
        ...(flags.artifact ? { artifact: await readBlob(flags.artifact) } : {}),
        ...(key ? { key } : {}),
        ...(certificate ? { certificate } : {}),
        rfc3161Timestamps,
        ...(flags.ignoreTlog ? {} : { rekorUrl: flags.rekorUrl }),
      });
      return emit(r, flags);
    }
    if (!flags.artifact) throw new SignetError('USAGE', 'must supply --artifact');
    if (!flags.signature && !flags.bundle) throw new SignetError('USAGE', 'must at least supply signature via --bundle, --signature or --attestation');
    let signature: Buffer | undefined;
    let certificate: Buffer | undefined;
    if (flags.bundle) ({ signature, certificate } = await readLegacyBundle(flags.bundle));
    if (flags.signature) signature = decodeSignatureFile(await readSmallFile(flags.signature, '--signature', FILE_LIMITS.small));
    if (flags.certificate) certificate = await readCertificate(flags.certificate);
    const key = flags.key ? await loadPublicKey(flags.key) : undefined;
    const rfc3161Timestamps = flags.rfc3161Timestamp
      ? [parseTimestampJson((await readSmallFile(flags.rfc3161Timestamp, '--rfc3161-timestamp', FILE_LIMITS.small)).toString('utf8'), `--rfc3161-timestamp ${flags.rfc3161Timestamp}`)]
      : [];
    const artifact = await readBlob(flags.artifact);
    const r = await createBundle({
      artifact,
      signature: signature!,
      ...(key ? { key } : {}),
      ...(certificate ? { certificate } : {}),
      rfc3161Timestamps,
      ...(flags.ignoreTlog ? {} : { rekorUrl: flags.rekorUrl }),
    });
    await emit(r, flags);
  });
}

async function emit(r: { bundle: Buffer; tlogEntry?: { logIndex: unknown } }, flags: CreateFlags): Promise<void> {
  if (r.tlogEntry) ui.info(`Found tlog entry with index: ${String(r.tlogEntry.logIndex)}`);
  if (flags.out) {
    await writeFileAtomic(flags.out, r.bundle);
    ui.info(`Wrote bundle to file ${flags.out}`);
  } else {
    ui.out(r.bundle.toString('utf8') + '\n');
  }
}

/** A certificate file: PEM, or base64 of the PEM (what cosign's bundle create expects). */
async function readCertificate(path: string): Promise<Buffer> {
  let text = (await readSmallFile(path, '--certificate', FILE_LIMITS.small)).toString('utf8');
  if (!text.includes('-----BEGIN')) {
    try {
      text = decodeBase64Strict(text.replace(/\s+/g, ''), `--certificate ${path}`).toString('utf8');
    } catch {
      throw new SignetError('MALFORMED', `--certificate ${path}: neither a PEM certificate nor base64 of one`);
    }
  }
  const [leaf] = certificatesFromPem(text, `--certificate ${path}`);
  return leaf!;
}

/** cosign's LocalSignedPayload: `base64Signature`, and `cert` (base64 of a PEM certificate or public key). */
async function readLegacyBundle(path: string): Promise<{ signature: Buffer; certificate?: Buffer }> {
  let doc: { base64Signature?: unknown; cert?: unknown };
  try {
    doc = JSON.parse((await readSmallFile(path, '--bundle')).toString('utf8')) as typeof doc;
  } catch (e) {
    if (e instanceof SyntaxError) throw new SignetError('MALFORMED', `--bundle ${path} is not JSON`);
    throw e;
  }
  if (typeof doc?.base64Signature !== 'string' || doc.base64Signature === '') throw new SignetError('MALFORMED', `--bundle ${path} has no base64Signature`);
  const signature = decodeBase64Strict(doc.base64Signature, `--bundle ${path} base64Signature`);
  if (typeof doc.cert !== 'string' || doc.cert === '') return { signature };
  const pem = decodeBase64Strict(doc.cert, `--bundle ${path} cert`).toString('utf8');
  if (!pem.includes('BEGIN CERTIFICATE')) return { signature };
  const [leaf] = certificatesFromPem(pem, `--bundle ${path} cert`);
  return { signature, certificate: leaf! };
}
