import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicy } from '../../src/policy/index.js';
import { findOnPath, loadRegoPolicy } from '../../src/policy/rego.js';
import { cyclonedx, edited, policyDir, rejectsCode, slsa } from './helpers.js';

const dir = await policyDir();
after(() => dir.cleanup());

const SLSA_GITHUB = `package signature

default allow = false

allow {
  input.predicateType == "https://slsa.dev/provenance/v1"
  startswith(input.predicate.runDetails.builder.id, "https://github.com/octocat/hello-world/.github/workflows/")
  input.predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/octocat/hello-world"
  input.predicate.buildDefinition.internalParameters.github.runner_environment == "github-hosted"
}
`;

test('Rego without an opa on PATH: a one-line USAGE error at load that says what would make it work', async () => {
  const empty = await mkdtemp(join(tmpdir(), 'signet-nopath-'));
  try {
    // An "opa" that is not executable does not count either.
    await writeFile(join(empty, 'opa'), 'not a program', { mode: 0o644 });
    const file = await dir.write('slsa.rego', SLSA_GITHUB);
    await rejectsCode(loadRegoPolicy(file, SLSA_GITHUB, empty), 'USAGE', /^Rego policy .*slsa\.rego: .*opa command and none is on PATH.*install opa, or write the policy in CUE \(\.cue\) or CEL \(\.cel\)$/);
    assert.equal(await findOnPath('opa', empty), undefined);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

// The rest needs OPA; it runs where an opa is on PATH.
const opa = await findOnPath('opa');

test('Rego (with opa): SLSA provenance and CycloneDX pass and fail as data.signature.allow says', { skip: opa ? false : 'no opa on PATH' }, async () => {
  const p = await loadPolicy(await dir.write('slsa-opa.rego', SLSA_GITHUB));
  assert.equal(p.language, 'rego');
  const other = edited(slsa, (s) => {
    (s.predicate as { runDetails: { builder: { id: string } } }).runDetails.builder.id = 'https://github.com/mallory/x';
  });
  const verdicts = await p.evaluate([slsa, other, slsa]);
  assert.deepEqual(verdicts.map((v) => v.ok), [true, false, true]);
  assert.match(verdicts[1]!.reason!, /data\.signature\.allow is false, not true/);

  const undef = await loadPolicy(await dir.write('undef.rego', 'package signature\n\nallow {\n  input.predicate.bomFormat == "SPDX"\n}\n'));
  const [u] = await undef.evaluate([cyclonedx]);
  assert.equal(u!.ok, false);
  assert.match(u!.reason!, /result is undefined for query 'data\.signature\.allow'/);

  await rejectsCode(loadPolicy(await dir.write('bad.rego', 'package signature\n\nallow {\n')), 'MALFORMED', /^Rego policy .*bad\.rego: /);
});
