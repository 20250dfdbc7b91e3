/**
 * Keyless bundle verification on one core: Signet's engine (parseBundle + verifyBundle) beside
 * @sigstore/verify (bundleFromJSON + toSignedEntity + Verifier.verify) on the same bundles, in the same
 * process, alternating rounds so that both see the same machine load. Each iteration starts from the
 * bundle's bytes (a fresh copy), so neither engine can keep per-bundle work between iterations; trust
 * material is prepared once per engine, as a long-running verifier would.
 *
 * The bundles are the public-good keyless ones that verify offline (certificate chain to the Fulcio
 * CA, embedded SCT, Rekor SET, inclusion proof + checkpoint, DSSE signature, identity policy).
 *   npm run bench:verify [-- iterations-per-round rounds]
 */
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot as TrustedRootProto } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { parseBundle } from '../src/sigstore/bundle.js';
import { parseTrustedRoot } from '../src/sigstore/trustedroot.js';
import { prepareTrust, verifyBundle } from '../src/sigstore/verifier.js';
import { readFixture } from '../test/sigstore/certificate-fixtures.js';

const N = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 5);

const rootBytes = readFixture('trusted_root.json');
const cases = [
  { file: 'cosign-oci-attestation.sigstore.json', identity: 'cody@soyland.com', issuer: 'https://github.com/login/oauth' },
].map((c) => ({ ...c, bytes: readFixture(c.file) }));
// N distinct copies of the bytes: no engine can key a cache on the bundle object.
const copies = Array.from({ length: N }, (_, i) => {
  const c = cases[i % cases.length]!;
  return { ...c, bytes: Buffer.from(c.bytes) };
});

const trust = prepareTrust(parseTrustedRoot(rootBytes));
const theirs = new Verifier(toTrustMaterial(TrustedRootProto.fromJSON(JSON.parse(rootBytes.toString('utf8')))));
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function signet(c: (typeof copies)[number]): void {
  verifyBundle(parseBundle(c.bytes), undefined, trust, { identity: { identity: c.identity, issuer: c.issuer } });
}
function sigstoreJs(c: (typeof copies)[number]): void {
  const b = bundleFromJSON(JSON.parse(c.bytes.toString('utf8')));
  theirs.verify(toSignedEntity(b), { subjectAlternativeName: `^${esc(c.identity)}$`, extensions: { issuer: c.issuer } });
}

function round(fn: (c: (typeof copies)[number]) => void, n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(copies[i % copies.length]!);
  return (n * 1000) / (performance.now() - t0);
}

const cpu = cpus();
console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${new Date().toISOString()}`);
console.log(`bundles: ${cases.map((c) => c.file).join(', ')}; ${N} per round (Signet) / ${Math.max(50, N >> 3)} (sigstore-js), ${ROUNDS} rounds, one core`);

// Both must accept before anything is timed.
signet(copies[0]!);
sigstoreJs(copies[0]!);
// Warm-up: JIT and the per-process caches (CA chains, log keys).
round(signet, Math.min(200, N));
round(sigstoreJs, 20);

const ours: number[] = [];
const them: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  ours.push(round(signet, N));
  them.push(round(sigstoreJs, Math.max(50, N >> 3)));
  console.log(`round ${r + 1}: signet ${ours[r]!.toFixed(0)} bundles/s, @sigstore/verify ${them[r]!.toFixed(0)} bundles/s, ratio ${(ours[r]! / them[r]!).toFixed(1)}x`);
}
const stats = (xs: number[]): string => `best ${Math.max(...xs).toFixed(0)}, median ${[...xs].sort((a, b) => a - b)[xs.length >> 1]!.toFixed(0)}, worst ${Math.min(...xs).toFixed(0)}`;
console.log(`signet:           ${stats(ours)} bundles/s`);
console.log(`@sigstore/verify: ${stats(them)} bundles/s`);
const ratios = ours.map((o, i) => o / them[i]!);
console.log(`ratio (same round): best ${Math.max(...ratios).toFixed(1)}x, worst ${Math.min(...ratios).toFixed(1)}x`);
