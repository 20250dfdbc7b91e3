/**
 * The admission decision for one image, shared by the webhook and `signet admission test`: the
 * ClusterImagePolicies whose globs match it, each of which must pass (policy-controller: AND across
 * policies), each passing when at least one of its authorities does (OR within a policy) and then its
 * CIP-level policy, if any, over what the authorities matched. `mode: warn` policies turn their failures
 * into warnings. Images no policy names get the no-match verdict.
 *
 * Outcomes are cached per (repository@digest, policy) for `cacheTtlMs`, and tag → digest resolutions for as long:
 * the mutating endpoint pins what was resolved, so what runs is what was verified. Evaluations of the
 * same key already under way are shared. Failures to reach a registry are never cached and always fail
 * closed (a denial naming the registry), unless every matching policy is in warn mode.
 */
import { SignetError } from '../errors.js';
import { parseReference, type Reference, type RegistryClient } from '../oci/index.js';
import { verifyOne } from '../cosign/verify.js';
import { verifyImageAttestations } from '../cosign/verify-attestation.js';
import { checkIdentity, type IdentityPolicy } from '../sigstore/identity.js';
import { fullImageName, globMatches } from './glob.js';
import type { Authority, ImagePolicy, PolicySet } from './policies.js';

export type NoMatchAction = 'deny' | 'warn' | 'allow';

export interface EngineOptions {
  client: RegistryClient;
  noMatch?: NoMatchAction;
  /** How long a verdict (and a tag's digest) is reused; 0 disables caching. Default 5 minutes. */
  cacheTtlMs?: number;
  /** Most cached entries (oldest dropped first). Default 10,000. */
  cacheEntries?: number;
  now?: () => number;
}

export interface Match {
  subject?: string;
  issuer?: string;
  predicateType?: string;
  /** Attestations: the statement's bytes, base64 (policy-controller's `payload`). */
  payload?: string;
}

export interface AuthorityOutcome {
  authority: string;
  ok: boolean;
  reason?: string;
  signatures?: Match[];
  attestations?: Record<string, Match[]>;
  /** A failure to reach a registry or service: never cached. */
  transient?: boolean;
}

export interface PolicyOutcome {
  policy: string;
  mode: 'enforce' | 'warn';
  ok: boolean;
  reason?: string;
  authorities: AuthorityOutcome[];
}

export interface ImageVerdict {
  image: string;
  /** The digest checked (absent when the image could not be resolved or no policy matched). */
  digest?: string;
  /** The image as written, pinned to the digest (`app@sha256:…`): what the mutating endpoint patches in. */
  pinned?: string;
  verdict: 'pass' | 'warn' | 'fail';
  /** Enforce-mode failures, one line each (policy, authority, why). */
  errors: string[];
  warnings: string[];
  policies: PolicyOutcome[];
  /** True when no ClusterImagePolicy matched. */
  noMatch?: boolean;
  /** True when every policy outcome came from the cache. */
  cached: boolean;
}

/** What a CIP-level policy may see of the object under admission. */
export interface AdmissionContext {
  object?: Record<string, unknown>;
}

interface CacheEntry<T> {
  expires: number;
  value: Promise<T>;
}

const TRANSIENT = new Set(['NETWORK', 'TIMEOUT', 'REGISTRY', 'REGISTRY_AUTH', 'INTERNAL', 'IO']);
const ANY_IDENTITY: IdentityPolicy = { identityRegexp: '.*', issuerRegexp: '.*' };

export class AdmissionEngine {
  #set: PolicySet;
  readonly #client: RegistryClient;
  readonly #noMatch: NoMatchAction;
  readonly #ttl: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #verdicts = new Map<string, CacheEntry<PolicyOutcome>>();
  readonly #digests = new Map<string, CacheEntry<string>>();
  readonly stats = { cacheHits: 0, cacheMisses: 0, evaluations: 0 };

  constructor(set: PolicySet, opts: EngineOptions) {
    this.#set = set;
    this.#client = opts.client;
    this.#noMatch = opts.noMatch ?? 'deny';
    this.#ttl = opts.cacheTtlMs ?? 5 * 60_000;
    this.#max = opts.cacheEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  get policySet(): PolicySet {
    return this.#set;
  }

  /** Swap in newly loaded policies; evaluations under way finish with the set they started with. */
  swap(set: PolicySet): void {
    this.#set = set;
  }

  get cacheSize(): number {
    return this.#verdicts.size;
  }

  /** The policies whose globs match `image` (throws REFERENCE for an image that does not parse). */
  matching(image: string, set: PolicySet = this.#set): ImagePolicy[] {
    const full = fullImageName(image);
    return set.policies.filter((p) => p.globs.some((g) => globMatches(g.re, image, full)));
  }

  #cached<T>(map: Map<string, CacheEntry<T>>, key: string, make: () => Promise<T>, keep: (v: T) => boolean): { value: Promise<T>; hit: boolean } {
    const now = this.#now();
    const e = map.get(key);
    if (e && e.expires > now) return { value: e.value, hit: true };
    if (e) map.delete(key);
    const value = make();
    if (this.#ttl <= 0) return { value, hit: false };
    const entry = { expires: now + this.#ttl, value };
    map.set(key, entry);
    if (map.size > this.#max) map.delete(map.keys().next().value!);
    // Failures (and outcomes the caller says not to keep) leave the cache once known.
    value.then(
      (v) => {
        if (!keep(v) && map.get(key) === entry) map.delete(key);
      },
      () => {
        if (map.get(key) === entry) map.delete(key);
      },
    );
    return { value, hit: false };
  }

  /** The digest an image names: its own, or its tag's (cached). Errors name the registry. */
  async resolve(image: string): Promise<{ ref: Reference; digest: string; pinned: string }> {
    const ref = parseReference(image);
    const pinned = (d: string): string => `${writtenRepository(image)}@${d}`;
    if (ref.digest) return { ref, digest: ref.digest, pinned: image };
    const key = `${ref.registry}/${ref.repository}:${ref.tag ?? 'latest'}`;
    const { value } = this.#cached(
      this.#digests,
      key,
      async () => {
        // A GET of the (small) manifest rather than a HEAD: docker-registry closes the connection after
        // every HEAD, and a new connection per tag is a round trip more on a cold review.
        try {
          return (await this.#client.getManifest(ref, ref.tag ?? 'latest')).digest;
        } catch (e) {
          if (e instanceof SignetError && e.code === 'NOT_FOUND') throw new SignetError('NOT_FOUND', `image ${image} not found in ${ref.registry}/${ref.repository}`);
          throw registryError(ref.registry, e);
        }
      },
      () => true,
    );
    const digest = await value;
    return { ref, digest, pinned: pinned(digest) };
  }

  /** Evaluate every policy that matches `image`. Never throws for the image's own problems: they are the verdict. */
  async evaluate(image: string, ctx: AdmissionContext = {}): Promise<ImageVerdict> {
    const set = this.#set;
    let policies: ImagePolicy[];
    try {
      policies = this.matching(image, set);
    } catch (e) {
      return { image, verdict: 'fail', errors: [`${image}: ${(e as Error).message}`], warnings: [], policies: [], cached: false };
    }
    if (policies.length === 0) {
      const msg = `${image}: no ClusterImagePolicy matches this image`;
      if (this.#noMatch === 'allow') return { image, verdict: 'pass', errors: [], warnings: [], policies: [], noMatch: true, cached: false };
      if (this.#noMatch === 'warn') return { image, verdict: 'warn', errors: [], warnings: [msg], policies: [], noMatch: true, cached: false };
      return { image, verdict: 'fail', errors: [msg], warnings: [], policies: [], noMatch: true, cached: false };
    }
    const allWarn = policies.every((p) => p.mode === 'warn');
    let resolved: { digest: string; pinned: string; ref: Reference };
    try {
      resolved = await this.resolve(image);
    } catch (e) {
      const msg = `${image}: ${(e as Error).message}`;
      return { image, verdict: allWarn ? 'warn' : 'fail', errors: allWarn ? [] : [msg], warnings: allWarn ? [msg] : [], policies: [], cached: false };
    }
    const target = `${resolved.ref.registry}/${resolved.ref.repository}@${resolved.digest}`;
    let allHits = true;
    const outcomes = await Promise.all(
      policies.map(async (p) => {
        // A CIP-level policy that reads the object depends on more than the digest: not cached as a whole.
        const perObject = p.policy && (p.policy.includeSpec || p.policy.includeObjectMeta || p.policy.includeTypeMeta);
        // Keyed by repository and digest: signatures live beside the image, so the same manifest in another
        // repository has its own (or none).
        const { value, hit } = this.#cached(this.#verdicts, `${target}|${p.key}`, () => this.#evaluateAuthorities(p, target), (o) => !o.authorities.some((a) => a.transient));
        if (hit) this.stats.cacheHits++;
        else {
          this.stats.cacheMisses++;
          allHits = false;
        }
        const base = await value;
        if (!p.policy || !base.ok) return base;
        if (!perObject) return base;
        return this.#cipPolicy(p, base, ctx);
      }),
    );
    const errors: string[] = [];
    const warnings: string[] = [];
    for (const o of outcomes) {
      if (o.ok) continue;
      (o.mode === 'warn' ? warnings : errors).push(`${image}: ${o.reason}`);
    }
    return {
      image,
      digest: resolved.digest,
      pinned: resolved.pinned,
      verdict: errors.length > 0 ? 'fail' : warnings.length > 0 ? 'warn' : 'pass',
      errors,
      warnings,
      policies: outcomes,
      cached: allHits,
    };
  }

  async #evaluateAuthorities(p: ImagePolicy, target: string): Promise<PolicyOutcome> {
    this.stats.evaluations++;
    const authorities = await Promise.all(p.authorities.map((a) => this.#authority(a, target)));
    const passed = authorities.filter((a) => a.ok);
    if (passed.length === 0) {
      const why = authorities.map((a) => `authority ${a.authority}: ${a.reason ?? 'failed'}`).join('; ');
      return { policy: p.name, mode: p.mode, ok: false, reason: `policy ${p.name}: ${why}`, authorities };
    }
    const base: PolicyOutcome = { policy: p.name, mode: p.mode, ok: true, authorities };
    if (p.policy && !(p.policy.includeSpec || p.policy.includeObjectMeta || p.policy.includeTypeMeta)) return this.#cipPolicy(p, base, {});
    return base;
  }

  async #cipPolicy(p: ImagePolicy, base: PolicyOutcome, ctx: AdmissionContext): Promise<PolicyOutcome> {
    const cip = p.policy!;
    const authorityMatches: Record<string, unknown> = {};
    for (const a of base.authorities) {
      if (!a.ok) continue;
      authorityMatches[a.authority] = { ...(a.signatures ? { signatures: a.signatures } : {}), ...(a.attestations ? { attestations: a.attestations } : {}) };
    }
    const input: Record<string, unknown> = { authorityMatches };
    const o = ctx.object;
    if (o && cip.includeSpec && o.spec !== undefined) input.spec = o.spec;
    if (o && cip.includeObjectMeta && o.metadata !== undefined) input.metadata = o.metadata;
    if (o && cip.includeTypeMeta) input.typemeta = { apiVersion: o.apiVersion, kind: o.kind };
    let verdict;
    try {
      [verdict] = await cip.evaluator.evaluate([input]);
    } catch (e) {
      return { ...base, ok: false, reason: `policy ${p.name}: CIP-level policy could not be evaluated: ${(e as Error).message}` };
    }
    if (verdict?.ok) return base;
    return { ...base, ok: false, reason: `policy ${p.name}: CIP-level policy failed: ${verdict?.reason ?? 'failed'}` };
  }

  async #authority(a: Authority, target: string): Promise<AuthorityOutcome> {
    if (a.kind === 'static') {
      return a.action === 'pass' ? { authority: a.name, ok: true } : { authority: a.name, ok: false, reason: a.message ?? 'disallowed by static policy' };
    }
    try {
      if (a.attestations.length === 0) return { authority: a.name, ok: true, signatures: await this.#signatures(a, target) };
      const attestations: Record<string, Match[]> = {};
      for (const rule of a.attestations) attestations[rule.name] = await this.#attestation(a, rule, target);
      return { authority: a.name, ok: true, attestations };
    } catch (e) {
      if (!(e instanceof SignetError)) throw e;
      const registry = target.slice(0, target.indexOf('/'));
      const transient = TRANSIENT.has(e.code);
      return { authority: a.name, ok: false, reason: transient ? registryError(registry, e).message : e.message, transient };
    }
  }

  #common(a: Extract<Authority, { kind: 'key' | 'keyless' }>) {
    return {
      client: this.#client,
      trustedRoot: a.trust.root,
      trust: a.trust.material,
      ...(a.key ? { key: a.key } : {}),
      ...(a.signatureRepository ? { signatureRepository: a.signatureRepository } : {}),
      ...(a.ignoreSct ? { ignoreSct: true } : {}),
      ...(a.useSignedTimestamps ? { useSignedTimestamps: true } : {}),
    };
  }

  async #signatures(a: Extract<Authority, { kind: 'key' | 'keyless' }>, target: string): Promise<Match[]> {
    if (a.kind === 'key') {
      const r = await verifyOne({ ...this.#common(a), images: [target] }, target);
      return r.verified.map(() => ({}));
    }
    // Keyless: one registry read, every signature verified against the trust root, then the identities.
    const r = await verifyOne({ ...this.#common(a), identity: a.identities.length === 1 ? a.identities[0]! : ANY_IDENTITY, images: [target] }, target);
    const matches: Match[] = [];
    const seen: string[] = [];
    for (const s of r.verified) {
      if (!s.identity) continue;
      const ok = a.identities.length === 0 || a.identities.some((id) => {
        try {
          checkIdentity(s.identity!, id);
          return true;
        } catch {
          return false;
        }
      });
      if (ok) matches.push({ subject: s.identity.subject, ...(s.identity.issuer !== undefined ? { issuer: s.identity.issuer } : {}) });
      else seen.push(`${JSON.stringify(s.identity.subject)} (issuer ${JSON.stringify(s.identity.issuer)})`);
    }
    if (matches.length === 0) throw new SignetError('NO_MATCHING_SIGNATURES', `no signature by an accepted identity for ${target}; signed by ${seen.join(', ')}`);
    return matches;
  }

  async #attestation(a: Extract<Authority, { kind: 'key' | 'keyless' }>, rule: { name: string; predicateType: string; policy?: import('../policy/types.js').AttestationPolicy }, target: string): Promise<Match[]> {
    const reasons: string[] = [];
    for (const identity of a.kind === 'key' ? [undefined] : a.identities.length > 0 ? a.identities : [ANY_IDENTITY]) {
      const [out] = await verifyImageAttestations({
        ...this.#common(a),
        ...(identity ? { identity } : {}),
        images: [target],
        type: rule.predicateType,
        ...(rule.policy ? { policies: [rule.policy] } : {}),
      });
      if (out!.result) {
        return out!.result.attestations.map((v) => ({
          ...(v.identity ? { subject: v.identity.subject, ...(v.identity.issuer !== undefined ? { issuer: v.identity.issuer } : {}) } : {}),
          predicateType: v.predicateType,
          payload: v.payload.toString('base64'),
        }));
      }
      const e = out!.error!;
      if (TRANSIENT.has(e.code)) throw e;
      reasons.push(e.message);
    }
    throw new SignetError('VERIFICATION', `attestation ${rule.name} (${rule.predicateType}): ${[...new Set(reasons)].join('; ')}`);
  }
}

/** The image as written without its tag (`app:v1` → `app`), for pinning it to a digest. */
export function writtenRepository(image: string): string {
  const at = image.indexOf('@');
  if (at >= 0) return image.slice(0, at);
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? image.slice(0, colon) : image;
}

function registryError(registry: string, e: unknown): SignetError {
  const msg = e instanceof Error ? e.message : String(e);
  const code = e instanceof SignetError ? e.code : 'NETWORK';
  if (msg.includes(registry)) return e instanceof SignetError ? e : new SignetError(code, msg);
  return new SignetError(code, `registry ${registry}: ${msg}`, { cause: e });
}
