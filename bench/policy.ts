/**
 * Policy evaluation over SLSA v1 provenance statements (GitHub's attest-build-provenance shape): one
 * compiled policy per language checking builder, repository, runner, source dependency and subject
 * digests, evaluated over N distinct copies of the statement in batches of B (as verify-attestation hands
 * them over), after one warm-up batch. Rego runs only where an `opa` is on PATH.
 *   npm run bench:policy [-- N B]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadPolicy } from '../src/policy/index.js';
import { findOnPath } from '../src/policy/rego.js';
import { statement } from '../test/policy/helpers.js';
import { fmt, machineLine, note } from './common.js';

const N = Number(process.argv[2] ?? 2000);
const B = Number(process.argv[3] ?? 200);

const POLICIES = {
  cel: `predicateType == "https://slsa.dev/provenance/v1" &&
predicate.buildDefinition.buildType == "https://actions.github.io/buildtypes/workflow/v1" &&
predicate.runDetails.builder.id.startsWith("https://github.com/octocat/hello-world/.github/workflows/") &&
predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/octocat/hello-world" &&
predicate.buildDefinition.internalParameters.github.runner_environment == "github-hosted" &&
predicate.buildDefinition.resolvedDependencies.exists(d,
  d.uri.startsWith("git+https://github.com/octocat/hello-world@") && d.digest.gitCommit.matches("^[0-9a-f]{40}$")) &&
subject.all(s, s.digest.sha256.matches("^[0-9a-f]{64}$"))
`,
  cue: `import "strings"

predicateType: "https://slsa.dev/provenance/v1"
_repo: "https://github.com/octocat/hello-world"
predicate: {
	buildDefinition: {
		buildType: "https://actions.github.io/buildtypes/workflow/v1"
		externalParameters: workflow: repository: _repo
		internalParameters: github: runner_environment: "github-hosted"
		resolvedDependencies: [...{uri: strings.HasPrefix("git+" + _repo + "@"), digest: gitCommit: =~"^[0-9a-f]{40}$"}]
	}
	runDetails: builder: id: =~"^https://github.com/octocat/hello-world/\\\\.github/workflows/"
}
subject: [...{digest: sha256: =~"^[0-9a-f]{64}$"}]
`,
  rego: `package signature

default allow = false

allow {
  input.predicateType == "https://slsa.dev/provenance/v1"
  input.predicate.buildDefinition.buildType == "https://actions.github.io/buildtypes/workflow/v1"
  startswith(input.predicate.runDetails.builder.id, "https://github.com/octocat/hello-world/.github/workflows/")
  input.predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/octocat/hello-world"
  input.predicate.buildDefinition.internalParameters.github.runner_environment == "github-hosted"
  dep := input.predicate.buildDefinition.resolvedDependencies[_]
  startswith(dep.uri, "git+https://github.com/octocat/hello-world@")
  regex.match("^[0-9a-f]{40}$", dep.digest.gitCommit)
  every_subject_ok
}

every_subject_ok {
  not bad_subject
}

bad_subject {
  s := input.subject[_]
  not regex.match("^[0-9a-f]{64}$", s.digest.sha256)
}
`,
};

const base = statement('slsa-v1-github');
// Distinct objects, so no evaluator can key anything on the statement it saw last.
const statements = Array.from({ length: N }, () => structuredClone(base));

const dir = await mkdtemp(join(tmpdir(), 'signet-bench-policy-'));
const rows: string[] = [];
try {
  for (const lang of ['cel', 'cue', 'rego'] as const) {
    if (lang === 'rego' && !(await findOnPath('opa'))) {
      rows.push(`rego  skipped: no opa on PATH`);
      continue;
    }
    const file = join(dir, `slsa.${lang}`);
    await writeFile(file, POLICIES[lang]);
    let t = performance.now();
    const policy = await loadPolicy(file);
    const loadMs = performance.now() - t;
    // Warm-up: JIT for CEL, the compiled WebAssembly module for CUE.
    const warm = await policy.evaluate(statements.slice(0, Math.min(N, 1000)));
    if (!warm.every((v) => v.ok)) throw new Error(`${lang}: the policy fails the statement: ${warm.find((v) => !v.ok)?.reason}`);
    note(`${lang}: loaded in ${fmt(loadMs)} ms, evaluating ${N} statements in batches of ${B}`);
    t = performance.now();
    const cpu = process.cpuUsage();
    let passed = 0;
    for (let i = 0; i < N; i += B) passed += (await policy.evaluate(statements.slice(i, i + B))).filter((v) => v.ok).length;
    const s = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    // CPU time of this process (and of opa children, which it does not count) says less about the machine's load.
    const cpuMs = (used.user + used.system) / 1000;
    if (passed !== N) throw new Error(`${lang}: ${N - passed} statements failed`);
    rows.push(
      `${lang.padEnd(5)} ${fmt(N / s).padStart(10)} statements/s   ${fmt((s * 1000) / N, 3).padStart(8)} ms/statement   ` +
        `${fmt(cpuMs / N, 3).padStart(8)} CPU ms/statement   load ${fmt(loadMs)} ms`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

console.log(`Policy evaluation, SLSA v1 provenance, N=${N}, batches of ${B}`);
for (const r of rows) console.log(r);
console.log(machineLine());
