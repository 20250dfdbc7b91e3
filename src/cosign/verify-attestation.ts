/**
 * `signet verify-attestation`: find an image's attestations in both of cosign's formats (bundle
 * referrers whose statement is not a cosign signature, and the layers of the legacy `.att` image),
 * verify each envelope exactly as `verify` verifies a signature (key or certificate identity, log
 * entries, SCTs, timestamps), check that the statement names the image digest (`checkClaims`), keep
 * those of the predicate type asked for, and apply every policy. Policies see all the statements of
 * one call at once, so an evaluator pays its start-up once.
 */
import { SignetError } from '../errors.js';
import { verifySignature, type PublicKeyInfo } from '../keys/index.js';
import { parseReference, repositoryName, type ImageReader, type Repo } from '../oci/index.js';
import { envelopeToJSON, IN_TOTO_PAYLOAD_TYPE, pae, parseBundle, parseEnvelope, parseStatement, verifyBundleWithKey, type DsseEnvelope, type Statement } from '../sigstore/index.js';
import { validateIdentityPolicy, type FulcioIdentity, type IdentityPolicy } from '../sigstore/identity.js';
import { verifyBundleTlog, verifyRekorBundle, type VerifiedTlogEntry } from '../sigstore/tlog.js';
import type { TrustedRoot } from '../sigstore/trustedroot.js';
import { sctIgnored, verifyBundle, type TrustMaterial } from '../sigstore/verifier.js';
import type { AttestationPolicy, PolicyVerdict } from '../policy/types.js';
import { MAX_ENVELOPE_BYTES, PREDICATE_TYPE_ANNOTATION } from './attest.js';
import { checkLegacyKeyless } from './keyless-verify.js';
import { resolvePredicateType } from './predicate.js';
import { readLayers } from './sign.js';
import { ANNOTATION, attachmentTag, COSIGN_SIGN_PREDICATE, isBundleMediaType, parseImageManifest, type Descriptor } from './storage.js';
import { resolveTargets, signatureRepository, type Target } from './targets.js';

const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

export interface VerifyAttestationsOptions {
  /** A registry client, or an OCI layout's reader (`verify-attestation --local-image`). */
  client: ImageReader;
  images: string[];
  /** Key-based verification; without it keyless (`identity` and `trust` required). */
  key?: PublicKeyInfo;
  identity?: IdentityPolicy;
  trust?: TrustMaterial;
  ignoreSct?: boolean;
  useSignedTimestamps?: boolean;
  /** cosign's --check-claims (default true): the statement must name the image digest. */
  checkClaims?: boolean;
  /** --insecure-ignore-tlog. */
  ignoreTlog?: boolean;
  /** Keyed: the trusted root log evidence is verified against, offline. */
  trustedRoot?: TrustedRoot;
  /** `--type`: alias or URI (default custom, as cosign). */
  type?: string;
  /** Applied to every verified statement of the predicate type; all must pass. */
  policies?: AttestationPolicy[];
  signatureRepository?: string;
  maxWorkers?: number;
}

export interface VerifiedAttestation {
  source: 'referrer' | 'legacy';
  /** The referrer manifest (`repo@digest`) or the `.att` tag. */
  location: string;
  /** What cosign prints: the DSSE envelope as JSON (a legacy layer's bytes as stored). */
  envelopeJson: Buffer;
  /** The signed statement's bytes and its parsed form. */
  payload: Buffer;
  statement: Statement;
  predicateType: string;
  /** Keyless: the verified certificate identity. */
  identity?: FulcioIdentity;
  tlog?: VerifiedTlogEntry[];
  /** How many log entries verified (0 with --insecure-ignore-tlog). */
  tlogVerified: number;
  /** One per policy, in the order given. */
  verdicts: PolicyVerdict[];
}

export interface ImageAttestations {
  input: string;
  digest: string;
  /** Verified attestations of the predicate type asked for that passed every policy. */
  attestations: VerifiedAttestation[];
  /** Attestations found that did not verify, with the reason. */
  rejected: Array<{ location: string; reason: string }>;
  /** The predicate types of every verified attestation, in the order found. */
  predicateTypes: string[];
}

export interface AttestationOutcome {
  input: string;
  result?: ImageAttestations;
  error?: SignetError;
  /** The policy failures behind a "validation errors" error, one line each. */
  validationErrors?: string[];
}

interface Candidate {
  source: 'referrer' | 'legacy';
  location: string;
  check: () => Omit<VerifiedAttestation, 'verdicts'>;
}

interface Checked {
  input: string;
  target: Target;
  verified: Array<Omit<VerifiedAttestation, 'verdicts'>>;
  rejected: Array<{ location: string; reason: string }>;
}

function checkMode(o: VerifyAttestationsOptions): void {
  if (o.key) {
    if (o.identity) throw new SignetError('USAGE', '--key and --certificate-identity/--certificate-oidc-issuer cannot be used together');
    return;
  }
  if (!o.identity) throw new SignetError('USAGE', 'keyless verification needs --certificate-identity (or --certificate-identity-regexp) and --certificate-oidc-issuer (or --certificate-oidc-issuer-regexp); or pass --key');
  validateIdentityPolicy(o.identity);
  if (!o.trust) throw new SignetError('USAGE', 'keyless verification needs a trusted root');
}

/**
 * Verify the attestations of many images (at most `maxWorkers` at once). Per image: NO_SIGNATURES when
 * it has none, NO_MATCHING_SIGNATURES when none verifies, VERIFICATION when none is of the type asked
 * for (listing the types found) or a policy fails ("N validation errors occurred").
 */
export async function verifyImageAttestations(o: VerifyAttestationsOptions): Promise<AttestationOutcome[]> {
  checkMode(o);
  const wanted = resolvePredicateType(o.type ?? 'custom');
  const workers = o.maxWorkers ?? 10;
  if (!Number.isInteger(workers) || workers < 1) throw new SignetError('USAGE', '--max-workers must be at least 1');
  const checked: Array<Checked | SignetError> = new Array(o.images.length);
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < o.images.length) {
      const i = next++;
      try {
        checked[i] = await checkImage(o, o.images[i]!);
      } catch (e) {
        if (!(e instanceof SignetError) || e.code === 'USAGE') throw e;
        checked[i] = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, o.images.length) }, run));

  // Every statement of the type asked for, across all images, goes to each policy in one call.
  const matching: Array<{ image: number; att: Omit<VerifiedAttestation, 'verdicts'> }> = [];
  checked.forEach((c, image) => {
    if (c instanceof SignetError) return;
    for (const att of c.verified) if (att.predicateType === wanted) matching.push({ image, att });
  });
  const policies = o.policies ?? [];
  const verdicts: PolicyVerdict[][] = matching.map(() => []);
  const statements = policies.length > 0 ? matching.map((m) => JSON.parse(m.att.payload.toString('utf8')) as unknown) : [];
  for (const policy of policies) {
    const results = statements.length > 0 ? await policy.evaluate(statements) : [];
    if (results.length !== statements.length) throw new SignetError('INTERNAL', `policy ${policy.name} answered ${results.length} verdicts for ${statements.length} statements`);
    results.forEach((v, i) => verdicts[i]!.push(v));
  }

  return checked.map((c, image): AttestationOutcome => {
    const input = o.images[image]!;
    if (c instanceof SignetError) return { input, error: c };
    const mine = matching.map((m, i) => ({ ...m, verdicts: verdicts[i]! })).filter((m) => m.image === image);
    const predicateTypes = c.verified.map((a) => a.predicateType);
    if (mine.length === 0) {
      return {
        input,
        error: new SignetError('VERIFICATION', `none of the attestations matched the predicate type: ${o.type ?? 'custom'}, found: ${predicateTypes.join(',')}`),
      };
    }
    const failures = mine.flatMap((m) => m.verdicts.filter((v) => !v.ok).map((v) => `${m.att.location}: policy ${v.policy}: ${v.reason ?? 'failed'}`));
    if (failures.length > 0) {
      return { input, validationErrors: failures, error: new SignetError('VERIFICATION', `${failures.length} validation errors occurred: ${failures.join('; ')}`) };
    }
    return {
      input,
      result: { input, digest: c.target.subject.digest, attestations: mine.map((m) => ({ ...m.att, verdicts: m.verdicts })), rejected: c.rejected, predicateTypes },
    };
  });
}

async function checkImage(o: VerifyAttestationsOptions, input: string): Promise<Checked> {
  const lookups = (repo: Repo, digest: string): Promise<Candidate[][]> => Promise.all([referrerCandidates(o, repo, digest), legacyCandidates(o, repo, digest)]);
  // Given a digest, both formats' lookups need only it: they go out together with the read that
  // checks the image exists, whose answer (not found, another digest) still comes first.
  const ref = parseReference(input);
  const early = ref.digest ? lookups(signatureRepository({ registry: ref.registry, repository: ref.repository }, o.signatureRepository), ref.digest) : undefined;
  early?.catch(() => {});
  let target: Target | undefined;
  try {
    [target] = await resolveTargets(o.client, input, { signatureRepository: o.signatureRepository, get: true });
  } catch (e) {
    await early?.catch(() => {});
    throw e;
  }
  const [fromReferrers, fromLegacy] = await (early ?? lookups(target!.signatureRepo, target!.subject.digest));
  const candidates = [...fromReferrers!, ...fromLegacy!];
  if (candidates.length === 0) throw new SignetError('NO_SIGNATURES', `no attestations found for ${input} (${target!.subject.digest})`);
  const verified: Checked['verified'] = [];
  const rejected: Checked['rejected'] = [];
  const codes = new Set<string>();
  for (const c of candidates) {
    try {
      const v = c.check();
      // A cosign v3 signature is a referrer bundle too; it is not an attestation.
      if (c.source === 'referrer' && v.predicateType === COSIGN_SIGN_PREDICATE) continue;
      verified.push(v);
    } catch (e) {
      if (!(e instanceof SignetError) || e.code === 'USAGE') throw e;
      codes.add(e.code);
      rejected.push({ location: c.location, reason: e.message });
    }
  }
  if (verified.length === 0) {
    if (rejected.length === 0) throw new SignetError('NO_SIGNATURES', `no attestations found for ${input} (${target!.subject.digest})`);
    const reasons = [...new Set(rejected.map((r) => r.reason))];
    throw new SignetError(
      codes.size === 1 && codes.has('NO_CERTIFICATE') ? 'NO_CERTIFICATE' : 'NO_MATCHING_SIGNATURES',
      `no matching attestations for ${input}: ${reasons.join('; ')}`,
    );
  }
  return { input, target: target!, verified, rejected };
}

async function referrerCandidates(o: VerifyAttestationsOptions, repo: Repo, digest: string): Promise<Candidate[]> {
  const { manifests } = await o.client.referrers(repo, digest);
  const relevant = manifests.filter(
    (d: Descriptor) => (!d.artifactType || isBundleMediaType(d.artifactType)) && d.annotations?.[ANNOTATION.bundlePredicateType] !== COSIGN_SIGN_PREDICATE,
  );
  const lists = await Promise.all(
    relevant.map(async (d): Promise<Candidate[]> => {
      const location = `${repositoryName(repo)}@${d.digest}`;
      const m = parseImageManifest((await o.client.getManifest(repo, d.digest)).bytes);
      if (m.annotations?.[ANNOTATION.bundlePredicateType] === COSIGN_SIGN_PREDICATE) return [];
      const layers = m.layers.filter((l) => isBundleMediaType(l.mediaType));
      if (layers.length !== 1) return [];
      if (layers[0]!.size > MAX_BUNDLE_BYTES) {
        return [{ source: 'referrer', location, check: () => { throw new SignetError('TOO_LARGE', `bundle of ${layers[0]!.size} bytes exceeds ${MAX_BUNDLE_BYTES}`); } }];
      }
      const bytes = await o.client.getBlob(repo, layers[0]!.digest, { maxBytes: MAX_BUNDLE_BYTES });
      return [{ source: 'referrer', location, check: () => checkBundle(o, digest, bytes, location) }];
    }),
  );
  return lists.flat();
}

async function legacyCandidates(o: VerifyAttestationsOptions, repo: Repo, digest: string): Promise<Candidate[]> {
  const tag = attachmentTag(digest, 'att');
  const location = `${repositoryName(repo)}:${tag}`;
  const layers = await readLayers(o.client, repo, tag);
  return Promise.all(
    layers.map(async (layer, i): Promise<Candidate> => {
      const where = `${location} layer ${i + 1}`;
      if (layer.size > MAX_ENVELOPE_BYTES) {
        return { source: 'legacy', location: where, check: () => { throw new SignetError('TOO_LARGE', `attestation layer of ${layer.size} bytes exceeds ${MAX_ENVELOPE_BYTES}`); } };
      }
      const bytes = await o.client.getBlob(repo, layer.digest, { maxBytes: MAX_ENVELOPE_BYTES });
      return { source: 'legacy', location: where, check: () => checkLegacy(o, digest, layer, bytes, where) };
    }),
  );
}

function statementOf(payload: Buffer): Statement {
  try {
    return parseStatement(payload);
  } catch (e) {
    throw new SignetError('VERIFICATION', `in-toto statement: ${(e as Error).message}`, { cause: e });
  }
}

/** The statement must name the image digest among its subjects (cosign's claim check). */
function checkClaims(o: VerifyAttestationsOptions, digest: string, statement: Statement): void {
  if (o.checkClaims === false) return;
  const hex = digest.replace(/^sha256:/, '');
  if (!statement.subject.some((s) => s.digest.sha256?.toLowerCase() === hex)) {
    throw new SignetError('VERIFICATION', `the statement does not name the image ${digest} among its subjects`);
  }
}

function checkBundle(o: VerifyAttestationsOptions, digest: string, bytes: Buffer, location: string): Omit<VerifiedAttestation, 'verdicts'> {
  const bundle = parseBundle(bytes);
  const c = bundle.content;
  if (c.kind !== 'dsse') throw new SignetError('VERIFICATION', 'the bundle holds a message signature, not an attestation');
  if (c.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new SignetError('VERIFICATION', `the envelope's payload type "${c.payloadType}" is not an in-toto statement`);
  let identity: FulcioIdentity | undefined;
  let tlog: VerifiedTlogEntry[] | undefined;
  let logged = 0;
  if (o.key) {
    verifyBundleWithKey(bundle, o.key);
    if (!o.ignoreTlog) {
      if (!o.trustedRoot) throw new SignetError('TLOG', 'no trusted root to check the transparency log entry against: pass --trusted-root, or --insecure-ignore-tlog to verify without the log');
      tlog = verifyBundleTlog(bundle, { publicKeySpki: o.key.spkiDer }, o.trustedRoot);
    }
  } else {
    if (bundle.verificationMaterial.kind === 'publicKey') throw new SignetError('NO_CERTIFICATE', 'the attestation was made with a key and carries no certificate: verify it with --key');
    // Claims are checked below, with the message cosign gives; the engine checks everything else.
    const r = verifyBundle(bundle, undefined, o.trust!, {
      identity: o.identity!,
      ignoreTlog: o.ignoreTlog === true,
      ...(o.ignoreSct !== undefined ? { ignoreSct: o.ignoreSct } : {}),
      tsaThreshold: o.useSignedTimestamps ? 1 : 0,
    });
    identity = r.identity;
    logged = o.ignoreTlog ? 0 : r.tlogEntries;
  }
  const statement = statementOf(c.payload);
  checkClaims(o, digest, statement);
  return { source: 'referrer', location, envelopeJson: envelopeToJSON(c.envelope), payload: c.payload, statement, predicateType: statement.predicateType, tlogVerified: tlog?.length ?? logged, ...(identity ? { identity } : {}), ...(tlog ? { tlog } : {}) };
}

function checkLegacy(o: VerifyAttestationsOptions, digest: string, layer: Descriptor, bytes: Buffer, location: string): Omit<VerifiedAttestation, 'verdicts'> {
  let env: DsseEnvelope;
  try {
    env = parseEnvelope(bytes, 'attestation layer');
  } catch (e) {
    throw new SignetError('VERIFICATION', `the layer (${layer.mediaType}) is not a DSSE envelope: ${(e as Error).message}`, { cause: e });
  }
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new SignetError('VERIFICATION', `the envelope's payload type "${env.payloadType}" is not an in-toto statement`);
  const annotations = layer.annotations ?? {};
  let identity: FulcioIdentity | undefined;
  let tlog: VerifiedTlogEntry[] | undefined;
  if (o.key) {
    const signed = pae(env.payloadType, env.payload);
    const sig = env.signatures.find((s) => verifySignature(o.key!, signed, s.sig));
    if (!sig) throw new SignetError('VERIFICATION', 'no signature of the envelope verifies with the given key');
    if (!o.ignoreTlog) {
      if (!o.trustedRoot) throw new SignetError('TLOG', 'no trusted root to check the transparency log entry against: pass --trusted-root, or --insecure-ignore-tlog to verify without the log');
      const annotation = annotations[ANNOTATION.bundle];
      if (!annotation) throw new SignetError('TLOG', 'the attestation has no transparency log bundle (dev.sigstore.cosign/bundle annotation)');
      tlog = [
        verifyRekorBundle(annotation, { signature: sig.sig, publicKeySpki: o.key.spkiDer, content: { kind: 'dsse', payloadType: env.payloadType, payload: env.payload, envelopeBytes: bytes } }, o.trustedRoot),
      ];
    }
  } else {
    let last: unknown;
    for (const s of env.signatures) {
      try {
        const r = checkLegacyKeyless({
          annotations,
          payload: bytes,
          signature: s.sig,
          dsse: { payloadType: env.payloadType, payload: env.payload },
          trust: o.trust!,
          identity: o.identity!,
          ignoreTlog: o.ignoreTlog === true,
          ignoreSct: sctIgnored(o.trust!, o.ignoreSct),
          useSignedTimestamps: o.useSignedTimestamps === true,
        });
        identity = r.identity;
        tlog = r.tlog;
        last = undefined;
        break;
      } catch (e) {
        last = e;
      }
    }
    if (last !== undefined) throw last;
  }
  const statement = statementOf(env.payload);
  checkClaims(o, digest, statement);
  return { source: 'legacy', location, envelopeJson: bytes, payload: env.payload, statement, predicateType: statement.predicateType, tlogVerified: tlog?.length ?? 0, ...(identity ? { identity } : {}), ...(tlog ? { tlog } : {}) };
}

export { PREDICATE_TYPE_ANNOTATION };
