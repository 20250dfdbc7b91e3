import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicy } from '../../src/policy/index.js';
import { splitCuePolicy } from '../../src/policy/cue.js';
import { cosignCustom, cyclonedx, edited, policyDir, rejectsCode, slsa, spdx } from './helpers.js';

const dir = await policyDir();
after(() => dir.cleanup());

const SLSA_GITHUB = `package signet

import (
	"strings"
)

// Built by a workflow of octocat/hello-world on a GitHub-hosted runner, from that repository.
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
`;

const slsaFrom = (builder: string) =>
  edited(slsa, (s) => {
    (s.predicate as { runDetails: { builder: { id: string } } }).runDetails.builder.id = builder;
  });

test('CUE: SLSA v1 provenance passes a builder/repository policy and fails on another builder, with CUE\'s error', async () => {
  const p = await loadPolicy(await dir.write('slsa.cue', SLSA_GITHUB));
  assert.equal(p.language, 'cue');
  assert.deepEqual(await p.evaluate([slsa]), [{ ok: true, policy: p.name }]);

  const [bad] = await p.evaluate([slsaFrom('https://github.com/mallory/fork/.github/workflows/x.yml@refs/heads/main')]);
  assert.equal(bad!.ok, false);
  assert.equal(
    bad!.reason,
    `predicate.runDetails.builder.id: invalid value "https://github.com/mallory/fork/.github/workflows/x.yml@refs/heads/main" ` +
      `(out of bound =~"^https://github.com/octocat/hello-world/\\\\.github/workflows/") (at ${p.name}:17:27)`,
  );

  const org = await loadPolicy(await dir.write('org.cue', 'predicate: runDetails: builder: id: =~"^https://github.com/my-org/"\n'));
  const [o] = await org.evaluate([slsa]);
  assert.equal(o!.ok, false);
  assert.match(o!.reason!, /^predicate\.runDetails\.builder\.id: invalid value .* \(out of bound =~"\^https:\/\/github\.com\/my-org\/"\)/);
});

test('CUE: CycloneDX and SPDX SBOMs pass and fail on licenses and names', async () => {
  const noGpl3 = await loadPolicy(
    await dir.write('cdx-pass.cue', 'predicateType: "https://cyclonedx.org/bom"\npredicate: components: [...{name: !="xz-utils", licenses: [...{license: id: !="GPL-3.0-only"}]}]\n'),
  );
  const noWtfpl = await loadPolicy(await dir.write('cdx-fail.cue', 'predicate: components: [...{licenses: [...{license: id: !="WTFPL"}]}]\n'));
  assert.equal((await noGpl3.evaluate([cyclonedx]))[0]!.ok, true);
  const [f] = await noWtfpl.evaluate([cyclonedx]);
  assert.equal(f!.ok, false);
  assert.match(f!.reason!, /^predicate\.components\.3\.licenses\.0\.license\.id: invalid value "WTFPL" \(out of bound !="WTFPL"\)/);

  const spdxPass = await loadPolicy(await dir.write('spdx-pass.cue', 'predicate: {spdxVersion: "SPDX-2.3", packages: [...{name: !="openssl"}]}\n'));
  const spdxFail = await loadPolicy(await dir.write('spdx-fail.cue', 'predicate: packages: [...{licenseDeclared: !="GPL-2.0-only"}]\n'));
  assert.equal((await spdxPass.evaluate([spdx]))[0]!.ok, true);
  const [g] = await spdxFail.evaluate([spdx]);
  assert.equal(g!.ok, false);
  assert.match(g!.reason!, /packages\.0\.licenseDeclared: invalid value "GPL-2\.0-only"/);
});

test("CUE: cosign's example policies (time.Parse bound, predicate type) pass and fail as in cosign", async () => {
  // Written after cosign's test/testdata/policies/cue-works.cue and cue-fails.cue.
  const works = await loadPolicy(
    await dir.write('works.cue', 'import "time"\n\nbefore: time.Parse(time.RFC3339, "2049-10-09T17:10:27Z")\n\npredicateType: "https://cosign.sigstore.dev/attestation/v1"\n\npredicate: {\n    Timestamp: <before\n}\n'),
  );
  const fails = await loadPolicy(
    await dir.write('fails.cue', 'import "time"\n\nbefore: time.Parse(time.RFC3339, "2049-10-09T17:10:27Z")\n\npredicateType: "cosignnotreally.sigstore.dev/attestation/v1"\n\npredicate: {\n    Timestamp: <before\n}\n'),
  );
  assert.equal((await works.evaluate([cosignCustom]))[0]!.ok, true);
  const [f] = await fails.evaluate([cosignCustom]);
  assert.equal(f!.ok, false);
  assert.match(f!.reason!, /^predicateType: conflicting values "https:\/\/cosign\.sigstore\.dev\/attestation\/v1" and "cosignnotreally\.sigstore\.dev\/attestation\/v1" \(at .*fails\.cue:5:16\)$/);
  // A field the statement leaves open is not an error (cosign validates without requiring concrete values).
  const open = await loadPolicy(await dir.write('open.cue', 'predicate: Data: string\npredicate: Extra?: int\nnotInStatement: string\n'));
  assert.equal((await open.evaluate([cosignCustom]))[0]!.ok, true);
});

test('CUE: one run checks many statements and gives each its own verdict', async () => {
  const p = await loadPolicy(await dir.write('batch.cue', SLSA_GITHUB));
  const statements = Array.from({ length: 60 }, (_, i) => (i % 7 === 3 ? slsaFrom(`https://evil.example/${i}`) : i % 11 === 5 ? 'not an object' : slsa));
  const verdicts = await p.evaluate(statements);
  assert.equal(verdicts.length, 60);
  verdicts.forEach((v, i) => {
    const bad = i % 7 === 3 || i % 11 === 5;
    assert.equal(v.ok, !bad, `statement ${i}: ${v.reason}`);
    if (i % 7 === 3) assert.match(v.reason!, new RegExp(`^predicate\\.runDetails\\.builder\\.id: invalid value "https://evil\\.example/${i}"`));
    if (i % 11 === 5 && i % 7 !== 3) assert.match(v.reason!, /conflicting values/);
  });

  // Calls made together (one per image, say) share runs and still get their own verdicts.
  const results = await Promise.all(statements.slice(0, 12).map((s) => p.evaluate([s])));
  assert.deepEqual(
    results.map((r) => r[0]!.ok),
    statements.slice(0, 12).map((_, i) => !(i % 7 === 3 || i % 11 === 5)),
  );
  assert.deepEqual(await p.evaluate([]), []);
});

test('CUE: malformed policies are errors at load, with the position in the file', async () => {
  await rejectsCode(loadPolicy(await dir.write('syntax.cue', 'predicate: {\n  builder: "x"\n')), 'MALFORMED', /^CUE policy .*syntax\.cue: expected '}', found 'EOF'/);
  await rejectsCode(loadPolicy(await dir.write('ref.cue', 'predicateType: allowedTypes\n')), 'MALFORMED', /reference "allowedTypes" not found \(at .*ref\.cue:1:16\)/);
  await rejectsCode(loadPolicy(await dir.write('conflict.cue', 'a: 1\na: 2\n')), 'MALFORMED', /a: conflicting values 2 and 1/);
  await rejectsCode(loadPolicy(await dir.write('imp.cue', 'import "example.com/policies/lib"\npredicateType: lib.Type\n')), 'MALFORMED', /example\.com\/policies\/lib/);
  await rejectsCode(loadPolicy(await dir.write('unbalanced.cue', 'a: 1\n}\nb: 2\n')), 'MALFORMED');
});

test('CUE: the package clause and imports are found before the declarations', () => {
  const s = splitCuePolicy('// c\npackage p\n\nimport "strings"\nimport (\n  t "time"\n  "list"\n)\nx: 1 // import "y"\n');
  assert.equal(s.header, '// c\n         \n\nimport "strings"\nimport (\n  t "time"\n  "list"\n)');
  assert.equal(s.body, '\nx: 1 // import "y"\n');
  assert.equal(splitCuePolicy('imports: 1\n').header, '');
  assert.equal(splitCuePolicy('packages: 1\n').header, '');
});

test('CUE: evaluation leaves no globals behind', async () => {
  const p = await loadPolicy(await dir.write('g.cue', 'predicateType: string\n'));
  await p.evaluate([slsa]);
  const g = globalThis as Record<string, unknown>;
  assert.equal(g.fs, undefined);
  assert.equal(g.require, undefined);
  assert.equal(g.Go, undefined);
});

test('CUE: a statement CUE cannot read fails alone, with the reason; the others keep their verdicts', async () => {
  const p = await loadPolicy(await dir.write('read.cue', 'predicateType: string\n'));
  const unreadable = { predicateType: 'x', predicate: { name: 'a\ud800b' } };
  const odd = { predicateType: 'x', predicate: { interp: 'a\\(b)', sep: '\u2028', big: 1e300, neg: -0, nul: 'a\u0000b' } };
  const verdicts = await p.evaluate([slsa, unreadable, spdx, odd]);
  assert.deepEqual(verdicts.map((v) => v.ok), [true, false, true, true]);
  assert.match(verdicts[1]!.reason!, /^predicate\.name: invalid string: unmatched surrogate pair$/);
});

test("CUE: the policy's references to the statement's own fields bind per statement, as at a file's top level", async () => {
  const p = await loadPolicy(
    await dir.write(
      'self.cue',
      'import "strings"\n_repo: predicate.buildDefinition.externalParameters.workflow.repository\npredicate: buildDefinition: resolvedDependencies: [...{uri: strings.HasPrefix("git+" + _repo + "@")}]\npredicateType: "https://slsa.dev/provenance/v0.2" | "https://slsa.dev/provenance/v1"\n',
    ),
  );
  const moved = edited(slsa, (s) => {
    (s.predicate as { buildDefinition: { resolvedDependencies: { uri: string }[] } }).buildDefinition.resolvedDependencies[0]!.uri = 'git+https://github.com/evil/x@main';
  });
  const renamed = edited(slsa, (s) => {
    const bd = (s.predicate as { buildDefinition: { externalParameters: { workflow: { repository: string } }; resolvedDependencies: { uri: string }[] } }).buildDefinition;
    bd.externalParameters.workflow.repository = 'https://github.com/other/repo';
    bd.resolvedDependencies[0]!.uri = 'git+https://github.com/other/repo@refs/heads/main';
  });
  const [a, b, c] = await p.evaluate([slsa, moved, renamed]);
  assert.equal(a!.ok, true);
  assert.equal(b!.ok, false);
  assert.match(b!.reason!, /resolvedDependencies\.0\.uri: invalid value "git\+https:\/\/github\.com\/evil\/x@main" \(does not satisfy strings\.HasPrefix\("git\+https:\/\/github\.com\/octocat\/hello-world@"\)\)/);
  assert.equal(c!.ok, true, c!.reason);
});
