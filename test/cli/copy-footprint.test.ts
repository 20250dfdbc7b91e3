/**
 * copy, save and load run on the registry client alone: they do not import the signing and
 * verification side (sigstore/, keys/, policy/), which `attach`/`generate` need and which costs the
 * process ~15 MiB of its resident set for nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('copy, save and load import no module of sigstore/, keys/ or policy/', () => {
  const dir = mkdtempSync(join(tmpdir(), 'signet-footprint-'));
  const hook = join(dir, 'hook.mjs');
  // Records every module the process resolves; printed at exit.
  writeFileSync(
    hook,
    "import { registerHooks } from 'node:module';\n" +
      'const seen = [];\n' +
      'registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.push(r.url); return r; } });\n' +
      "process.on('exit', () => process.stderr.write('MODULES ' + JSON.stringify(seen) + '\\n'));\n",
  );
  for (const command of ['copy', 'save', 'load']) {
    const r = spawnSync(process.execPath, ['--import', hook, MAIN, command, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const line = r.stderr.split('\n').find((l) => l.startsWith('MODULES '));
    assert.ok(line, r.stderr);
    const modules = (JSON.parse(line.slice('MODULES '.length)) as string[]).filter((u) => u.includes('/dist/src/'));
    assert.ok(modules.some((u) => u.endsWith('/cosign/copy.js')), `${command}: the copy engine was not loaded`);
    const heavy = modules.filter((u) => /\/dist\/src\/(sigstore|keys|policy)\//.test(u));
    assert.deepEqual(heavy.map((u) => u.replace(/^.*\/dist\/src\//, '')), [], `${command} --help imported the signing side`);
  }
});
