/**
 * Files a user or an attacker hands the CLI are refused from their size, before they are read: a 50 MB
 * bundle file costs no more memory than a tiny one. maxRSS of the child is a correctness bound (the file
 * was not read), not a speed figure.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MAIN } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'signet-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Run the CLI with a preload that reports the process's peak RSS (KiB) on stderr at exit. */
function runMeasured(args: string[]): Promise<{ code: number; stderr: string; maxRssKiB: number }> {
  const preload = join(dir, 'rss.mjs');
  writeFileSync(preload, "process.on('exit', () => process.stderr.write(`maxRSS=${process.resourceUsage().maxRSS}\\n`));\n");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(preload).href, MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const text = Buffer.concat(err).toString();
      const m = /maxRSS=(\d+)\n$/.exec(text);
      resolve({ code: code ?? -1, stderr: text.replace(/maxRSS=\d+\n$/, ''), maxRssKiB: m ? Number(m[1]) : NaN });
    });
  });
}

describe('size limits on files the CLI reads', () => {
  test('a 50 MB bundle is refused before it is read', { timeout: 120_000 }, async () => {
    const key = join(dir, 'cosign.pub');
    writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
    const artifact = join(dir, 'artifact.txt');
    writeFileSync(artifact, 'hello');
    const small = join(dir, 'small.bundle');
    writeFileSync(small, '{"base64Signature":"AAAA"}');
    // A well-formed JSON document, so that reading it would also mean parsing it.
    const big = join(dir, 'big.bundle');
    const fd = openSync(big, 'w');
    writeSync(fd, '{"base64Signature":"');
    const chunk = Buffer.alloc(1024 * 1024, 'A');
    for (let i = 0; i < 50; i++) writeSync(fd, chunk);
    writeSync(fd, '"}');
    closeSync(fd);
    const size = 50 * 1024 * 1024 + 22;

    const base = await runMeasured(['verify-blob', '--key', key, '--bundle', small, artifact]);
    assert.notEqual(base.code, 0);
    const r = await runMeasured(['verify-blob', '--key', key, '--bundle', big, artifact]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `Error: bundle ${big}: ${size} bytes, more than the limit of ${32 * 1024 * 1024}\n`);
    assert.ok(Number.isFinite(r.maxRssKiB) && Number.isFinite(base.maxRssKiB));
    const growthMiB = (r.maxRssKiB - base.maxRssKiB) / 1024;
    assert.ok(growthMiB < 100, `peak RSS grew by ${growthMiB.toFixed(0)} MiB over a tiny bundle's run`);
  });
});
