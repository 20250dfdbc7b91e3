/** Shared by the policy tests: the statement fixtures and policy files written to a temporary directory. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSignetError } from '../../src/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled tests run from dist/test/policy; the documents stay in the source tree.
const fixtureDir = join(here, '..', '..', '..', 'test', 'policy', 'fixtures');

export function statement(name: 'slsa-v1-github' | 'cyclonedx' | 'spdx' | 'cosign-custom'): Record<string, unknown> {
  return JSON.parse(readFileSync(join(fixtureDir, `${name}.json`), 'utf8')) as Record<string, unknown>;
}

export const slsa = statement('slsa-v1-github');
export const cyclonedx = statement('cyclonedx');
export const spdx = statement('spdx');
export const cosignCustom = statement('cosign-custom');

/** A temporary directory for policy files, removed by `cleanup`. */
export async function policyDir(): Promise<{ write(name: string, text: string | Buffer): Promise<string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'signet-policy-test-'));
  return {
    async write(name, text) {
      const p = join(dir, name);
      await writeFile(p, text);
      return p;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A SignetError with this code and a one-line message matching `msg`. */
export async function rejectsCode(p: Promise<unknown>, code: string, msg?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isSignetError(e), `expected SignetError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (msg) assert.match(e.message, msg);
    assert.ok(!e.message.includes('\n'), `one-line message: ${e.message}`);
    return true;
  });
}

/** A copy of a statement with one change. */
export function edited<T>(s: T, change: (copy: T) => void): T {
  const c = structuredClone(s);
  change(c);
  return c;
}
