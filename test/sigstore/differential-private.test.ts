/**
 * Differential tests on a private Sigstore: keyless bundles that Signet signs through its own services
 * (`startServer` with the dev OIDC issuer: CA + log + TSA), message signatures and DSSE in-toto, with a
 * Rekor v1 entry and a TSA timestamp, and with a Rekor v2 entry and a TSA timestamp (a server offering
 * v2, whose signing config the client follows). Each bundle goes through Signet's verifyBundle and
 * @sigstore/verify, valid and mutated (a byte flipped in the decoded bytes of every base64 field, every
 * field dropped, text and integer fields edited, material swapped between two bundles). The rule:
 * Signet never accepts what sigstore-js refuses; a case where Signet refuses and sigstore-js accepts must
 * be listed in STRICTER with the reason, so a new disagreement fails the test.
 *
 * Policy on both sides: identity (email SAN, exact) and issuer; no SCTs (the CA has no CT log, so the
 * trusted root lists none: Signet does not ask for them, sigstore-js is told ctlogThreshold 0); one
 * tlog entry; one timestamp of any source for sigstore-js, which is what Signet demands by default
 * (the log's integrated time for v1, the TSA's for v2).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot as TrustedRootProto } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { type RunningServer, startServer } from '../../src/server/serve.js';
import { parseBundle } from '../../src/sigstore/bundle.js';
import { resolveKeylessServices, signBundleKeyless, type KeylessContent } from '../../src/sigstore/sign-keyless.js';
import { parseSigningConfig, type SigningConfig } from '../../src/sigstore/signing-config.js';
import { parseTrustedRoot } from '../../src/sigstore/trustedroot.js';
import { prepareTrust, verifyBundle, type TrustMaterial } from '../../src/sigstore/verifier.js';
import { BASE64, byteFlips, drops, leaves, withValue, type Json, type Mutation } from './json-mutations.js';


/** One private Sigstore as both verifiers see it. */
interface Site {
  srv: RunningServer;
  signingConfig: SigningConfig;
  issuer: string;
  ours: TrustMaterial;
  theirs: Verifier;
}

interface Case {
  name: string;
  site: Site;
  bundle: Buffer;
  identity: string;
  /** Artifact bytes for message signatures; DSSE bundles are verified without (the statement names it). */
  data?: Buffer;
}

const dirs: string[] = [];
async function openSite(rekorApiVersion: 1 | 2): Promise<Site> {
  const dir = mkdtempSync(join(tmpdir(), 'signet-diff-private-'));
  dirs.push(dir);
  const srv = await startServer({ dataDir: dir, listen: '127.0.0.1:0', requestLog: false, devOidc: true, rekorApiVersion });
  const rootText = readFileSync(srv.trustedRootPath, 'utf8');
  return {
    srv,
    signingConfig: parseSigningConfig(readFileSync(srv.signingConfigPath)),
    issuer: srv.devIssuer!.issuerUrl,
    ours: prepareTrust(parseTrustedRoot(rootText)),
    // No CT log behind our CA: SCTs cannot be demanded.
    theirs: new Verifier(toTrustMaterial(TrustedRootProto.fromJSON(JSON.parse(rootText))), { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 1 }),
  };
}

function ours(c: Case, bundle: Buffer, site: Site = c.site): string {
  try {
    verifyBundle(parseBundle(bundle), c.data ? { bytes: c.data } : undefined, site.ours, { identity: { identity: c.identity, issuer: site.issuer } });
    return 'ok';
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function theirs(c: Case, bundle: Buffer, site: Site = c.site): string {
  try {
    const b = bundleFromJSON(JSON.parse(bundle.toString('utf8')));
    // sigstore-js takes subjectAlternativeName as a regular expression: anchor and escape it.
    site.theirs.verify(toSignedEntity(b, c.data), { subjectAlternativeName: `^${escapeRegex(c.identity)}$`, extensions: { issuer: site.issuer } });
    return 'ok';
  } catch (e) {
    return (e as Error).message || String(e);
  }
}






/** Text fields that are signed but not base64 (checkpoint note, payload type, kind, integers as strings). */
function textEdits(doc: Json): Mutation[] {
  const out: Mutation[] = [];
  for (const { path, value } of leaves(doc)) {
    if (typeof value !== 'string' || (BASE64.test(value) && !/^\d+$/.test(value))) continue;
    const last = String(path[path.length - 1]);
    if (/^\d+$/.test(value)) out.push({ name: `increment ${path.join('.')}`, bundle: withValue(doc, path, String(BigInt(value) + 1n)) });
    else if (last !== 'mediaType' && /[A-Za-z0-9]/.test(value)) {
      // The first letter or digit moved by one (0.0.1 -> 1.0.1, SHA2_256 -> THA2_256, a checkpoint's
      // origin): never a no-op, and in the signed text rather than in a signature's base64 padding bits.
      const edited = value.replace(/[A-Za-z0-9]/, (ch) => (ch === 'z' ? 'a' : ch === 'Z' ? 'A' : ch === '9' ? '0' : String.fromCharCode(ch.charCodeAt(0) + 1)));
      out.push({ name: `edit ${path.join('.')}`, bundle: withValue(doc, path, edited) });
    }
  }
  return out;
}

/**
 * Cases where sigstore-js accepts and Signet refuses, each with the reason Signet is right to. Names are
 * `<case name>: <mutation name>`.
 */
const STRICTER: Array<[RegExp, string]> = [
  [
    /: (flip byte \d+ of|drop|increment) verificationMaterial\.tlogEntries\.0\.inclusionProof\.(rootHash|treeSize)$/,
    'sigstore-js proves inclusion against the checkpoint and never reads the proof\'s own rootHash and treeSize; ' +
      'protobuf-specs marks both REQUIRED and sigstore-go compares them with the checkpoint, so a bundle that contradicts itself is refused',
  ],
  [
    /: flip byte 0 of verificationMaterial\.(certificate\.rawBytes|timestampVerificationData\.rfc3161Timestamps\.0\.signedTimestamp)$/,
    'the outer SEQUENCE tag of a certificate or TimeStampResp is unsigned framing; sigstore-js\'s DER reader ignores the tag, Signet refuses what is not DER',
  ],
  [
    /Rekor v2 \+ TSA .*: increment verificationMaterial\.tlogEntries\.0\.integratedTime$/,
    'a Rekor v2 entry has no integrated time (0); sigstore-js ignores the field for v2, Signet checks any claimed integration time ' +
      'against the log key\'s validity and refuses 1970. The unsigned value can only make Signet refuse, never accept',
  ],
  [
    /message signature: drop messageSignature\.messageDigest\.algorithm$/,
    'a digest without its algorithm (HASH_ALGORITHM_UNSPECIFIED) says nothing about what was hashed; protobuf-specs marks it REQUIRED. ' +
      'sigstore-js never reads it (it compares the digest bytes with the log entry and verifies the signature over the artifact)',
  ],
];

/**
 * Disagreements that are Signet bugs, kept visible here until src/sigstore/tlog.ts is fixed (the test
 * prints them; a new one fails). Remove an entry once the fix lands.
 */
const KNOWN_BUGS: Array<[RegExp, string]> = [];

function stricterReason(name: string): string | undefined {
  return STRICTER.find(([re]) => re.test(name))?.[1];
}

function compare(c: Case, mutations: Mutation[]): { looser: string[]; stricter: string[]; refusedByBoth: number } {
  const looser: string[] = [];
  const stricter: string[] = [];
  let refusedByBoth = 0;
  for (const m of mutations) {
    const a = ours(c, m.bundle);
    const b = theirs(c, m.bundle);
    if (a === 'ok' && b !== 'ok') looser.push(`${m.name}: sigstore-js says ${b}`);
    if (a !== 'ok' && b === 'ok' && !stricterReason(`${c.name}: ${m.name}`)) stricter.push(`${m.name}: Signet says ${a}`);
    if (a !== 'ok' && b !== 'ok') refusedByBoth++;
  }
  return { looser, stricter, refusedByBoth };
}

const doc = (b: Buffer): Record<string, any> => JSON.parse(b.toString('utf8'));
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

let v1: Site;
let v2: Site;
const cases: Case[] = [];
/** A second bundle of the same kind, site and signer for each case: the source of swapped material. */
const twins = new Map<Case, Case>();

async function keyless(site: Site, name: string, identity: string, content: KeylessContent, data?: Buffer): Promise<Case> {
  const token = await site.srv.devIssuer!.mintToken({ email: identity });
  const signed = await signBundleKeyless({ token, signingConfig: site.signingConfig, content });
  return { name, site, bundle: signed.bundle, identity, ...(data ? { data } : {}) };
}

function statement(data: Buffer): Buffer {
  return json({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'artifact.bin', digest: { sha256: createHash('sha256').update(data).digest('hex') } }],
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: { buildDefinition: { buildType: 'https://example.com/build@v1' } },
  });
}

async function pair(site: Site, label: string, kind: 'blob' | 'dsse'): Promise<Case> {
  const make = async (i: number): Promise<Case> => {
    const data = Buffer.from(`${label} artifact ${i} ${Date.now()}\n`);
    if (kind === 'blob') return keyless(site, `${label} message signature`, 'alice@example.com', { kind: 'blob', data }, data);
    return keyless(site, `${label} DSSE in-toto`, 'alice@example.com', { kind: 'dsse', payloadType: 'application/vnd.in-toto+json', payload: statement(data) });
  };
  // The twin first: the case's entry is then never leaf 0, so its inclusion proof has hashes to mutate.
  const b = await make(2);
  const a = await make(1);
  twins.set(a, b);
  return a;
}

before(async () => {
  [v1, v2] = await Promise.all([openSite(1), openSite(2)]);
  cases.push(await pair(v1, 'Rekor v1 + TSA', 'blob'), await pair(v1, 'Rekor v1 + TSA', 'dsse'), await pair(v2, 'Rekor v2 + TSA', 'blob'), await pair(v2, 'Rekor v2 + TSA', 'dsse'));
});
after(async () => {
  await Promise.all([v1?.srv.close(), v2?.srv.close()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('differential on a private Sigstore: Signet verifier vs @sigstore/verify', () => {
  it('the v2 server\'s signing config leads the client to Rekor v2 (and the v1 server\'s to v1), each with the TSA', () => {
    const s1 = resolveKeylessServices(v1.signingConfig);
    const s2 = resolveKeylessServices(v2.signingConfig);
    assert.deepEqual(s1.tlogs.map((t) => t.majorApiVersion), [1]);
    assert.deepEqual(s2.tlogs.map((t) => t.majorApiVersion), [2]);
    assert.equal(s1.tsaUrls.length, 1);
    assert.equal(s2.tsaUrls.length, 1);
    for (const c of cases) {
      const vm = doc(c.bundle).verificationMaterial;
      assert.equal(vm.tlogEntries.length, 1, c.name);
      assert.equal(vm.timestampVerificationData.rfc3161Timestamps.length, 1, c.name);
      const v2Entry = vm.tlogEntries[0].kindVersion.version === '0.0.2';
      assert.equal(v2Entry, c.site === v2, `${c.name}: kind version ${vm.tlogEntries[0].kindVersion.version}`);
      // A v2 entry has no integrated time or promise: the TSA's timestamp is the only trusted time.
      if (v2Entry) assert.ok(!vm.tlogEntries[0].inclusionPromise && (vm.tlogEntries[0].integratedTime ?? '0') === '0', c.name);
    }
  });

  it('both accept every valid bundle; both refuse a wrong identity, a wrong issuer, a wrong artifact and the other site\'s trust', () => {
    for (const c of cases) {
      assert.equal(ours(c, c.bundle), 'ok', c.name);
      assert.equal(theirs(c, c.bundle), 'ok', c.name);
      const wrong: Array<[string, Case, Site]> = [
        ['identity', { ...c, identity: 'alice@example.co' }, c.site],
        ['issuer', c, { ...c.site, issuer: c.site.issuer + 'x' }],
        ['trust', c, c.site === v1 ? v2 : v1],
      ];
      if (c.data) wrong.push(['artifact', { ...c, data: Buffer.from('something else') }, c.site]);
      for (const [what, w, site] of wrong) {
        // The other site's issuer name differs too; keep ours so only the trust differs.
        const s = what === 'trust' ? { ...site, issuer: c.site.issuer } : site;
        assert.notEqual(ours(w, w.bundle, s), 'ok', `${c.name}: wrong ${what}`);
        assert.notEqual(theirs(w, w.bundle, s), 'ok', `${c.name}: wrong ${what}`);
      }
    }
  });

  // minRefused: the share both must refuse, or the mutator is not reaching signed bytes. Text edits hit
  // many unsigned fields (a v2 entry's logIndex, integratedTime), so only some of them must be refused.
  for (const [what, gen, minRefused] of [
    ['a byte flipped in every base64 field', byteFlips, 0.5],
    ['every field dropped', drops, 0.5],
    ['every text and integer field edited', textEdits, 0.25],
  ] as const) {
    it(`never accepts what sigstore-js refuses: ${what}`, (t) => {
      const report: string[] = [];
      for (const c of cases) {
        const muts = gen(doc(c.bundle) as Json);
        assert.ok(muts.length >= 5, `${c.name}: only ${muts.length} mutations`);
        const r = compare(c, muts);
        assert.ok(r.refusedByBoth >= muts.length * minRefused, `${c.name}: only ${r.refusedByBoth} of ${muts.length} refused by both`);
        for (const l of r.looser) report.push(`${c.name}: LOOSER ${l}`);
        for (const s of r.stricter) report.push(`${c.name}: STRICTER ${s}`);
      }
      const known = report.filter((line) => KNOWN_BUGS.some(([re]) => re.test(line)));
      for (const k of known) t.diagnostic(`known Signet bug: ${k}`);
      assert.deepEqual(
        report.filter((line) => !known.includes(line)),
        [],
        'verdicts differ (Signet looser is a bug; Signet stricter needs a reason in STRICTER)',
      );
    });
  }

  it('material swapped between two bundles of the same signer and site is refused by both', () => {
    for (const c of cases) {
      const a = doc(c.bundle);
      const b = doc(twins.get(c)!.bundle);
      const vm = a.verificationMaterial;
      const swaps: Mutation[] = [
        { name: 'certificate', bundle: json({ ...a, verificationMaterial: { ...vm, certificate: b.verificationMaterial.certificate } }) },
        { name: 'tlog entry', bundle: json({ ...a, verificationMaterial: { ...vm, tlogEntries: b.verificationMaterial.tlogEntries } }) },
        { name: 'the other tlog entry added', bundle: json({ ...a, verificationMaterial: { ...vm, tlogEntries: [...vm.tlogEntries, ...b.verificationMaterial.tlogEntries] } }) },
        { name: 'timestamp', bundle: json({ ...a, verificationMaterial: { ...vm, timestampVerificationData: b.verificationMaterial.timestampVerificationData } }) },
        {
          name: 'the other timestamp added',
          bundle: json({
            ...a,
            verificationMaterial: {
              ...vm,
              timestampVerificationData: { rfc3161Timestamps: [...vm.timestampVerificationData.rfc3161Timestamps, ...b.verificationMaterial.timestampVerificationData.rfc3161Timestamps] },
            },
          }),
        },
        { name: 'certificate and tlog entry', bundle: json({ ...a, verificationMaterial: { ...vm, certificate: b.verificationMaterial.certificate, tlogEntries: b.verificationMaterial.tlogEntries } }) },
        // Everything but the content: the other bundle's signature over the other artifact.
        { name: 'content', bundle: json({ ...b, verificationMaterial: vm }) },
      ];
      if (a.messageSignature) {
        swaps.push({ name: 'signature', bundle: json({ ...a, messageSignature: { ...a.messageSignature, signature: b.messageSignature.signature } }) });
      } else {
        swaps.push({ name: 'signature', bundle: json({ ...a, dsseEnvelope: { ...a.dsseEnvelope, signatures: b.dsseEnvelope.signatures } }) });
        swaps.push({ name: 'payload', bundle: json({ ...a, dsseEnvelope: { ...a.dsseEnvelope, payload: b.dsseEnvelope.payload } }) });
      }
      for (const s of swaps) {
        assert.notEqual(ours(c, s.bundle), 'ok', `${c.name}: ${s.name} swapped: Signet accepted`);
        assert.notEqual(theirs(c, s.bundle), 'ok', `${c.name}: ${s.name} swapped: sigstore-js accepted`);
      }
      // The twin's complete bundle verifies on its own (the swaps above are refused for the mix, not the parts).
      const t = twins.get(c)!;
      assert.equal(ours(t, t.bundle), 'ok', `${c.name}: twin`);
      assert.equal(theirs(t, t.bundle), 'ok', `${c.name}: twin`);
    }
  });
});
