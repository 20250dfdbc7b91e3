/**
 * Runs every compiled test file with node:test and ends with one summary line ("N passed, N failed").
 * Test files start the real services they need (docker-registry, PostgreSQL) on loopback themselves.
 */
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv.slice(2);
const files = findTests(here).filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
let passed = 0;
let failed = 0;
let skipped = 0;
const stream = run({ files, concurrency: 2, timeout: 10 * 60_000 });
stream.on('test:pass', (t) => {
  if (t.details.type !== 'suite') {
    if (t.skip || t.todo) skipped++;
    else passed++;
  }
});
stream.on('test:fail', (t) => {
  if (t.details.type !== 'suite') failed++;
});
const report = stream.compose(spec);
report.pipe(process.stdout, { end: false });
report.on('end', () => {
  process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
});
