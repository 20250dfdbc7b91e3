/**
 * Certificate-side verification of keyless bundles on one core: chain to the trusted CA, embedded SCT,
 * identity policy — Signet's engine beside @sigstore/verify's equivalent step (`verifyCertificate`:
 * chain + SCTs; its identity check is a string compare and not included), on the same public-good
 * leaves in the same run. Not a test: prints figures.
 *   node dist/bench/verify-cert.js [iterations per engine, default 2000]
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { certificateAuthoritiesFromTrustedRoot, parseCertificate, verifyCertificateChain } from '../src/sigstore/certificate.js';
import { ctLogsFromTrustedRoot, verifySct } from '../src/sigstore/sct.js';
import { certificateIdentity, checkIdentity } from '../src/sigstore/identity.js';
import { publicGoodCases, publicGoodRoot } from '../test/sigstore/certificate-fixtures.js';

const N = Number(process.argv[2] ?? 2000);
const require = createRequire(import.meta.url);

function run(name: string, n: number, step: (i: number) => void): number {
  for (let i = 0; i < Math.min(200, n); i++) step(i); // warm-up: JIT, and the per-process caches
  const t0 = performance.now();
  for (let i = 0; i < n; i++) step(i);
  const ms = performance.now() - t0;
  const rate = (n * 1000) / ms;
  console.log(`${name.padEnd(44)} ${((ms * 1000) / n).toFixed(0).padStart(6)} µs/bundle  ${rate.toFixed(0).padStart(6)} bundles/s`);
  return rate;
}

const cases = publicGoodCases;
const cas = certificateAuthoritiesFromTrustedRoot(publicGoodRoot.certificateAuthorities);
const logs = ctLogsFromTrustedRoot(publicGoodRoot.ctlogs);

console.log(`node ${process.version}, ${N} iterations per engine over ${cases.length} public-good leaves (P-256 and P-384 keys, P-384 CA)`);

// Copies, so that no engine can keep anything keyed on the leaf's identity between iterations.
const leaves = cases.map((c) => Buffer.from(c.leaf));
const ours = run('signet: chain + SCT + identity', N, (i) => {
  const c = cases[i % cases.length]!;
  const leaf = parseCertificate(Buffer.from(leaves[i % leaves.length]!));
  const { chain } = verifyCertificateChain(leaf, cas, [c.integratedTime]);
  verifySct(leaf, chain[1]!, logs);
  checkIdentity(certificateIdentity(leaf), { identity: c.identity, issuer: c.issuer });
});
run('signet: chain only', N, (i) => {
  const c = cases[i % cases.length]!;
  verifyCertificateChain(Buffer.from(leaves[i % leaves.length]!), cas, [c.integratedTime]);
});
{
  const parsed = leaves.map((l) => parseCertificate(l));
  const issuers = cases.map((c, k) => verifyCertificateChain(parsed[k]!, cas, [c.integratedTime]).chain[1]!);
  run('signet: SCT only', N, (i) => {
    verifySct(parsed[i % parsed.length]!, issuers[i % issuers.length]!, logs);
  });
  run('signet: identity only', N, (i) => {
    const c = cases[i % cases.length]!;
    checkIdentity(certificateIdentity(parsed[i % parsed.length]!), { identity: c.identity, issuer: c.issuer });
  });
}

let theirs: number | undefined;
try {
  const { TrustedRoot } = require('@sigstore/protobuf-specs');
  const { toTrustMaterial } = require('@sigstore/verify');
  const { X509Certificate } = require('@sigstore/core');
  const { verifyCertificate } = require('@sigstore/verify/dist/key/index.js');
  const tm = toTrustMaterial(TrustedRoot.fromJSON(publicGoodRoot));
  theirs = run('@sigstore/verify: verifyCertificate', Math.max(200, Math.floor(N / 5)), (i) => {
    const c = cases[i % cases.length]!;
    verifyCertificate(X509Certificate.parse(Buffer.from(leaves[i % leaves.length]!)), [c.integratedTime], tm);
  });
} catch (e) {
  console.log(`@sigstore/verify comparison unavailable: ${(e as Error).message}`);
}
if (theirs) console.log(`ratio: signet ${(ours / theirs).toFixed(1)}× @sigstore/verify (signet also checks the identity policy)`);
