import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicy, loadPolicies } from '../../src/policy/index.js';
import { cyclonedx, edited, policyDir, rejectsCode, slsa, spdx } from './helpers.js';

const dir = await policyDir();
after(() => dir.cleanup());

const SLSA_GITHUB = `
// Built by a workflow of octocat/hello-world on a GitHub-hosted runner, from that repository.
predicateType == "https://slsa.dev/provenance/v1" &&
predicate.buildDefinition.buildType == "https://actions.github.io/buildtypes/workflow/v1" &&
predicate.runDetails.builder.id.startsWith("https://github.com/octocat/hello-world/.github/workflows/") &&
predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/octocat/hello-world" &&
predicate.buildDefinition.internalParameters.github.runner_environment == "github-hosted" &&
predicate.buildDefinition.resolvedDependencies.exists(d,
  d.uri.startsWith("git+https://github.com/octocat/hello-world@") && d.digest.gitCommit.matches("^[0-9a-f]{40}$")) &&
subject.all(s, s.digest.sha256.size() == 64)
`;

test('CEL: SLSA v1 provenance passes a builder/repository policy and fails another builder', async () => {
  const pass = await loadPolicy(await dir.write('slsa.cel', SLSA_GITHUB));
  assert.equal(pass.language, 'cel');
  assert.deepEqual(await pass.evaluate([slsa]), [{ ok: true, policy: pass.name }]);

  const otherBuilder = edited(slsa, (s) => {
    (s.predicate as { runDetails: { builder: { id: string } } }).runDetails.builder.id = 'https://github.com/mallory/fork/.github/workflows/x.yml@refs/heads/main';
  });
  const selfHosted = edited(slsa, (s) => {
    (s.predicate as { buildDefinition: { internalParameters: { github: { runner_environment: string } } } }).buildDefinition.internalParameters.github.runner_environment = 'self-hosted';
  });
  const [a, b, c] = await pass.evaluate([otherBuilder, slsa, selfHosted]);
  assert.equal(a!.ok, false);
  assert.match(a!.reason!, /^CEL expression predicateType == "https:\/\/slsa\.dev\/provenance\/v1" && .*: false$/);
  assert.equal(b!.ok, true);
  assert.equal(c!.ok, false);

  const org = await loadPolicy(await dir.write('org.cel', 'predicate.runDetails.builder.id.startsWith("https://github.com/my-org/")'));
  const [v] = await org.evaluate([slsa]);
  assert.deepEqual(v, {
    ok: false,
    policy: org.name,
    reason: 'CEL expression predicate.runDetails.builder.id.startsWith("https://github.com/my-org/"): false',
  });
});

test('CEL: CycloneDX and SPDX SBOMs pass and fail on component names and licenses', async () => {
  const noGpl3 = await loadPolicy(
    await dir.write('cdx-pass.cel', 'predicateType == "https://cyclonedx.org/bom" && !predicate.components.exists(c, c.name == "xz-utils" || c.licenses.exists(l, l.license.id == "GPL-3.0-only"))'),
  );
  const noWtfpl = await loadPolicy(await dir.write('cdx-fail.cel', 'predicate.components.all(c, c.licenses.all(l, l.license.id != "WTFPL"))'));
  assert.deepEqual((await noGpl3.evaluate([cyclonedx])).map((v) => v.ok), [true]);
  const [f] = await noWtfpl.evaluate([cyclonedx]);
  assert.equal(f!.ok, false);
  assert.match(f!.reason!, /WTFPL.*: false$/);

  const spdxPass = await loadPolicy(await dir.write('spdx-pass.cel', 'predicate.spdxVersion == "SPDX-2.3" && !predicate.packages.exists(p, p.name == "openssl")'));
  const spdxFail = await loadPolicy(await dir.write('spdx-fail.cel', 'predicate.packages.all(p, p.licenseDeclared != "GPL-2.0-only")'));
  assert.equal((await spdxPass.evaluate([spdx]))[0]!.ok, true);
  assert.equal((await spdxFail.evaluate([spdx]))[0]!.ok, false);
});

test('CEL: a missing field, a non-bool result and a non-object statement fail with the reason', async () => {
  const missing = await loadPolicy(await dir.write('missing.cel', 'predicate.runDetails.builder.version == "1"'));
  const [m] = await missing.evaluate([slsa]);
  assert.equal(m!.ok, false);
  assert.match(m!.reason!, /evaluation failed: .*version/);

  // has() makes the same check safe.
  const guarded = await loadPolicy(await dir.write('guarded.cel', '!has(predicate.runDetails.builder.version) || predicate.runDetails.builder.version == "1"'));
  assert.equal((await guarded.evaluate([slsa]))[0]!.ok, true);

  const notBool = await loadPolicy(await dir.write('count.cel', 'size(subject)'));
  const [n] = await notBool.evaluate([slsa]);
  assert.equal(n!.ok, false);
  assert.match(n!.reason!, /returned 1 \(int\), not a bool/);

  const any = await loadPolicy(await dir.write('true.cel', 'true'));
  const [s, arr] = await any.evaluate(['a string', [1]]);
  assert.equal(s!.ok, false);
  assert.match(s!.reason!, /not a JSON object/);
  assert.equal(arr!.ok, false);
});

test('CEL: malformed policies are errors at load, naming the file', async () => {
  await rejectsCode(loadPolicy(await dir.write('syntax.cel', 'predicate.x ==')), 'MALFORMED', /^CEL policy .*syntax\.cel: line 1:\d+: /);
  await rejectsCode(
    loadPolicy(await dir.write('undeclared.cel', 'predicat.runDetails.builder.id == "x" && subject.all(s, s.name != "")')),
    'MALFORMED',
    /undeclared reference to 'predicat'/,
  );
  await rejectsCode(loadPolicy(await dir.write('empty.cel', '  // nothing\n')), 'MALFORMED');
  await rejectsCode(loadPolicy(await dir.write('blank.cel', '\n')), 'MALFORMED', /holds no expression/);
});

test('policies: the extension selects the language; others, large files and missing files are refused', async () => {
  await rejectsCode(loadPolicies([await dir.write('p.json', '{}')]), 'USAGE', /p\.json: unknown policy format, expected a \.cue, \.rego or \.cel file/);
  // The extension check comes before any file is read.
  await rejectsCode(loadPolicies(['/nonexistent/a.cel', 'b.yaml']), 'USAGE', /b\.yaml/);
  await rejectsCode(loadPolicy(await dir.write('big.cel', `true || ${'"x" == "x" || '.repeat(90_000)}true`)), 'TOO_LARGE');
  await rejectsCode(loadPolicy('/nonexistent/policy.cel'), 'IO', /no such file/);
  await rejectsCode(loadPolicy(await dir.write('bad.cel', Buffer.from([0x74, 0xff, 0xfe]))), 'MALFORMED');
  const ps = await loadPolicies([await dir.write('one.cel', 'true'), await dir.write('two.CEL', 'false')]);
  assert.deepEqual(ps.map((p) => p.language), ['cel', 'cel']);
  assert.equal(ps[1]!.name.endsWith('two.CEL'), true);
});

test('CEL: many statements in one call, one verdict each, in order', async () => {
  const p = await loadPolicy(await dir.write('many.cel', 'subject[0].digest.sha256.endsWith("a4")'));
  const statements = Array.from({ length: 500 }, (_, i) =>
    i % 3 === 0 ? edited(slsa, (s) => ((s.subject as { digest: { sha256: string } }[])[0]!.digest.sha256 = 'ff')) : slsa,
  );
  const verdicts = await p.evaluate(statements);
  assert.equal(verdicts.length, 500);
  verdicts.forEach((v, i) => assert.equal(v.ok, i % 3 !== 0, `statement ${i}`));
});

test('CEL: matches() keeps RE2 semantics, with patterns from the policy and from the data', async () => {
  const p = await loadPolicy(await dir.write('re.cel', 'subject.all(s, s.name.matches(s.digest.pattern)) && predicateType.matches("^https://slsa\\\\.dev/")'));
  const statements = Array.from({ length: 300 }, (_, i) => ({
    predicateType: 'https://slsa.dev/provenance/v1',
    subject: [{ name: `image-${i}`, digest: { pattern: i % 2 === 0 ? `^image-${i}$` : `^image-${i + 1}$` } }],
  }));
  const verdicts = await p.evaluate(statements);
  verdicts.forEach((v, i) => assert.equal(v.ok, i % 2 === 0, `statement ${i}`));
  // RE2 has no lookahead: a pattern JavaScript would accept is an evaluation error here.
  const [v] = await p.evaluate([{ predicateType: 'https://slsa.dev/x', subject: [{ name: 'a', digest: { pattern: '^(?=a)a$' } }] }]);
  assert.equal(v!.ok, false);
  assert.match(v!.reason!, /evaluation failed/);
});
