/** `signet env`: the variables Signet reads, their values with secrets masked, and what they do. */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Command } from 'commander';
import { registerAll } from '../../src/cli/commands/index.js';
import { ENV_VARS, flagVars } from '../../src/cli/env-vars.js';
import { runCli } from '../helpers/cli.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');
/** Read by the code but not Signet's to describe: the shell's and Node's own, and the lower-case proxy spellings. */
const NOT_OURS = new Set(['PATH', 'NODE_OPTIONS', 'http_proxy', 'https_proxy']);

/** Every variable name the source reads: process.env.X, env.X, env['X'], and commander's .env('X'). */
function namesRead(dir: string, into = new Map<string, string>()): Map<string, string> {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) namesRead(p, into);
    else if (p.endsWith('.ts')) {
      const s = readFileSync(p, 'utf8');
      for (const re of [/\bprocess\.env\.([A-Za-z][A-Za-z0-9_]+)/g, /\benv\.([A-Z][A-Z0-9_]+)\b/g, /\benv\[['"]([A-Za-z][A-Za-z0-9_]+)['"]\]/g, /\.env\(['"]([A-Z][A-Z0-9_]+)['"]\)/g]) {
        for (const m of s.matchAll(re)) into.set(m[1]!, p.slice(SRC.length + 1));
      }
    }
  }
  return into;
}

/** `signet env` in an environment of only `vars` (and what Node needs to start). */
function env(args: string[], vars: Record<string, string>) {
  const clean: Record<string, string | undefined> = {};
  for (const k of Object.keys(process.env)) if (/^(COSIGN|SIGSTORE|TUF|SIGNET|GITHUB|ACTIONS|BUILDKITE|DOCKER|NODE_USE|HTTPS?_PROXY|RUNNER)/i.test(k)) clean[k] = undefined;
  return runCli(['env', ...args], { env: { ...clean, ...vars } });
}

test('every environment variable the code reads is listed by signet env, or is a flag\'s own', async () => {
  const all = new Command('signet');
  await registerAll(all);
  const flags = flagVars(all);
  const listed = new Set(ENV_VARS.map((v) => v.name));
  const read = namesRead(SRC);
  assert.ok(read.size > 40, 'the scan finds the variables');
  const unlisted = [...read].filter(([name]) => !listed.has(name) && !flags.has(name) && !NOT_OURS.has(name)).map(([n, f]) => `${n} (${f})`);
  assert.deepEqual(unlisted, []);
  // And nothing is listed that the code does not read.
  assert.deepEqual(ENV_VARS.map((v) => v.name).filter((n) => !read.has(n)), []);
  assert.ok(flags.has('COSIGN_REGISTRY_PASSWORD') && flags.has('SIGNET_TILE_CACHE') && flags.has('SIGNET_MONITOR_ONCE'));
});

test('values are shown as set, secrets masked unless asked for, with what each variable does', async () => {
  const vars = { COSIGN_PASSWORD: 'hunter2', COSIGN_REPOSITORY: 'registry.example/sigs', COSIGN_REGISTRY_PASSWORD: 'pw"x', COSIGN_KEY: 'cosign.key', COSIGN_TYPO: 'x', SIGSTORE_OTHER_TOKEN: 'tok' };
  const r = await env([], vars);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(!/hunter2|pw"x|tok"/.test(r.stdout), 'no secret printed');
  assert.match(r.stdout, /^# COSIGN_PASSWORD is the password of an encrypted private key, instead of asking on the terminal\n# Expects: the password\nCOSIGN_PASSWORD="\*\*\*\*\*\*"$/m);
  assert.match(r.stdout, /^COSIGN_REPOSITORY="registry\.example\/sigs"$/m);
  assert.match(r.stdout, /^SIGSTORE_ID_TOKEN=""$/m, 'an unset variable is listed empty');
  assert.match(r.stdout, /^# COSIGN_REGISTRY_PASSWORD sets --registry-password \(sign, verify, .*\): password for registry basic auth\nCOSIGN_REGISTRY_PASSWORD="\*\*\*\*\*\*"$/m);
  assert.match(r.stdout, /^# COSIGN_KEY sets --key \(.*\): its meaning depends on the command: see the command's --help\nCOSIGN_KEY="cosign\.key"$/m);
  assert.match(r.stdout, /# Set, and not read by Signet, but named like variables that are:\nCOSIGN_TYPO="x"\nSIGSTORE_OTHER_TOKEN="\*\*\*\*\*\*"\n$/);
  assert.doesNotMatch(r.stdout, /COSIGN_ALLOW_INSECURE_REGISTRY/, 'unset flag variables only with --all-flags');

  const shown = await env(['--show-sensitive-values', '--show-descriptions=false'], vars);
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(shown.stdout.split('\n').filter(Boolean).every((l) => /^[A-Z][A-Z0-9_]*=".*"$/.test(l)), 'only NAME="value" lines');
  assert.match(shown.stdout, /^COSIGN_PASSWORD="hunter2"$/m);
  assert.match(shown.stdout, /^COSIGN_REGISTRY_PASSWORD="pw\\"x"$/m);

  const all = await env(['--all-flags'], {});
  assert.match(all.stdout, /^# Flag variables: each sets its flag wherever the flag is not given on the command line\.$/m);
  assert.match(all.stdout, /^# SIGNET_TILE_CACHE sets --tile-cache \(serve\): .*\nSIGNET_TILE_CACHE=""$/m);
  assert.match(all.stdout, /^COSIGN_ALLOW_INSECURE_REGISTRY=""$/m);
});

test('signet env takes no arguments; --help has examples', async () => {
  const r = await env(['extra'], {});
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /too many arguments/);
  const help = await runCli(['env', '--help']);
  assert.match(help.stdout, /Examples:\n {2}signet env\n/);
});
