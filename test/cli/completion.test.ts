/**
 * `signet completion bash|zsh|fish`: the scripts are loaded into the real shells and asked what they
 * offer, as a shell does when the user presses Tab.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { registerAll } from '../../src/cli/commands/index.js';
import { runCli } from '../helpers/cli.js';

const has = (shell: string): boolean => spawnSync(shell, ['-c', 'true'], { stdio: 'ignore' }).status === 0;
let dir: string;
const scripts: Record<string, string> = {};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signet-completion-'));
  writeFileSync(join(dir, 'key.pem'), 'not a key');
  writeFileSync(join(dir, 'keyring.txt'), '');
  for (const shell of ['bash', 'zsh', 'fish']) {
    const r = await runCli(['completion', shell]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    scripts[shell] = join(dir, `signet.${shell}`);
    writeFileSync(scripts[shell]!, r.stdout);
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

function run(shell: string, script: string): string {
  const r = spawnSync(shell, ['-c', script], { encoding: 'utf8', cwd: dir, env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: dir } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'the script loads without a complaint');
  return r.stdout;
}

/** What bash's Tab offers for `line` (the cursor at its end; a trailing space starts a new word). */
function bash(line: string): string[] {
  const words = line.split(' ');
  const quoted = words.map((w) => `'${w}'`).join(' ');
  return run('bash', `source ${scripts.bash}; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _signet; printf '%s\\n' "\${COMPREPLY[@]}"`)
    .split('\n')
    .filter(Boolean)
    .sort();
}

describe('bash', () => {
  test('commands, nested commands, flags of the command typed, global flags, choices and file names', () => {
    assert.deepEqual(bash('signet ver'), ['verify', 'verify-attestation', 'verify-blob', 'verify-blob-attestation', 'version']);
    assert.deepEqual(bash('signet log mon'), ['monitor']);
    assert.deepEqual(bash('signet log '), ['fsck', 'get', 'import', 'info', 'monitor', 'search', 'verify']);
    assert.deepEqual(bash('signet sign --ke'), ['--key']);
    // A flag of another command is not offered; the global ones are, before or after the command.
    assert.deepEqual(bash('signet sign --rekor-api'), []);
    assert.deepEqual(bash('signet serve --rekor-api'), ['--rekor-api-version']);
    assert.deepEqual(bash('signet sign --verb'), ['--verbose']);
    assert.deepEqual(bash('signet -d --timeout 1m ver'), ['verify', 'verify-attestation', 'verify-blob', 'verify-blob-attestation', 'version']);
    assert.deepEqual(bash('signet serve --rekor-api-version '), ['1', '2']);
    assert.deepEqual(bash('signet sign --key ke'), ['key.pem', 'keyring.txt']);
    assert.deepEqual(bash('signet completion '), ['key.pem', 'keyring.txt', 'signet.bash', 'signet.fish', 'signet.zsh']);
  });

  test('every command the CLI registers is offered, and every subcommand under its parent', async () => {
    const all = new Command('signet');
    await registerAll(all);
    const visible = (c: Command) => c.commands.filter((s) => !(s as unknown as { _hidden: boolean })._hidden).map((s) => s.name());
    assert.deepEqual(bash('signet '), visible(all).sort());
    for (const c of all.commands) {
      if (visible(c).length > 0) assert.deepEqual(bash(`signet ${c.name()} `), visible(c).sort(), c.name());
    }
  });
});

describe('zsh', { skip: !has('zsh') && 'zsh is not installed' }, () => {
  // zsh runs the bash function through bashcompinit and filters what it returns by the typed prefix itself,
  // so the function's answer is the whole list for the command found on the line.
  const offered = (line: string): string[] => {
    const words = line.split(' ');
    const quoted = words.map((w) => `'${w}'`).join(' ');
    return run('zsh', `autoload -U compinit && compinit -u; source ${scripts.zsh}; print -r -- "$_comps[signet]"; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _signet; print -rl -- "\${COMPREPLY[@]}"`)
      .split('\n')
      .filter(Boolean);
  };

  test('the script registers a completion for signet and finds the command on the line as bash does', () => {
    const [registered, ...log] = offered('signet log mon');
    assert.match(registered!, /^_bash_complete .*-F _signet$/);
    assert.deepEqual(log.sort(), ['fsck', 'get', 'import', 'info', 'monitor', 'search', 'verify']);
    const [, ...flags] = offered('signet sign --ke');
    assert.ok(flags.includes('--key') && flags.includes('--verbose') && !flags.includes('--rekor-api-version'));
    const [, ...choices] = offered('signet serve --rekor-api-version x');
    assert.deepEqual(choices, ['1', '2']);
  });
});

describe('fish', { skip: !has('fish') && 'fish is not installed' }, () => {
  const complete = (line: string): string[] =>
    run('fish', `source ${scripts.fish}; complete -C '${line}'`)
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t')[0]!)
      .sort();

  test('commands with their descriptions, nested commands, flags, choices and file names', () => {
    assert.deepEqual(complete('signet ver'), ['verify', 'verify-attestation', 'verify-blob', 'verify-blob-attestation', 'version']);
    assert.match(run('fish', `source ${scripts.fish}; complete -C 'signet versio'`), /^version\tprint the version of Signet\n$/);
    assert.deepEqual(complete('signet log mon'), ['monitor']);
    assert.deepEqual(complete('signet sign --ke'), ['--key']);
    assert.deepEqual(complete('signet sign --rekor-api'), []);
    assert.deepEqual(complete('signet -d serve --rekor-api-version '), ['1', '2']);
    assert.deepEqual(complete('signet sign --key ke'), ['key.pem', 'keyring.txt']);
  });
});

test('an unknown shell, or none, is one line and exit 2, with nothing on stdout; --help has examples', async () => {
  const r = await runCli(['completion', 'powershell']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'Error: signet completion knows bash, zsh, fish, not "powershell"\n');
  const none = await runCli(['completion']);
  assert.equal(none.code, 2);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /missing required argument 'shell'/);
  const help = await runCli(['completion', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n {2}source <\(signet completion bash\)\n/);
});
