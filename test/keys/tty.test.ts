/**
 * Terminal behaviour (no-echo password prompts, overwrite question) through a real pseudo-terminal,
 * made by util-linux `script`. Skipped where `script` is not installed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decryptPrivateKey } from '../../src/keys/index.js';
import { createSoftToken } from '../helpers/softhsm.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'src', 'cli', 'main.js');
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

interface PtyRun {
  code: number | null;
  /** Everything the terminal showed (stdout and stderr together, CRLF line ends). */
  screen: string;
}

/** Run the CLI on a pty; each time `expect` appears on screen, type `send`. */
function inPty(cwd: string, args: string[], dialogue: [expect: string, send: string][], env: Record<string, string> = {}): Promise<PtyRun> {
  const quoted = [process.execPath, MAIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const childEnv: NodeJS.ProcessEnv = { ...env };
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COSIGN_') && !(k in childEnv)) childEnv[k] = v;
  const p = spawn('script', ['-qec', quoted, '/dev/null'], { cwd, env: childEnv });
  const steps = [...dialogue];
  let pending = '';
  let screen = '';
  p.stdout.on('data', (d: Buffer) => {
    screen += d.toString();
    pending += d.toString();
    while (steps.length > 0 && pending.includes(steps[0]![0])) {
      const [expect, send] = steps.shift()!;
      pending = pending.slice(pending.indexOf(expect) + expect.length);
      p.stdin.write(send);
    }
  });
  const timer = setTimeout(() => p.kill(), 30_000);
  return new Promise((resolve) => {
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}

const PROMPT = 'Enter password for private key: ';
const AGAIN = 'Enter password for private key again: ';

let dir: string;
let n = 0;
async function freshDir(): Promise<string> {
  const d = join(dir, `tty${n++}`);
  await mkdir(d);
  return d;
}
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'signet-tty-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('terminal prompts', { skip: hasScript ? false : 'util-linux script not installed' }, () => {
  test('generate-key-pair asks twice without echo', async () => {
    const d = await freshDir();
    const r = await inPty(d, ['generate-key-pair'], [[PROMPT, 'tty-pw\r'], [AGAIN, 'tty-pw\r']]);
    assert.equal(r.code, 0, r.screen);
    assert.ok(!r.screen.includes('tty-pw'), `password echoed: ${JSON.stringify(r.screen)}`);
    assert.match(r.screen, /Private key written to cosign\.key/);
    decryptPrivateKey(await readFile(join(d, 'cosign.key'), 'utf8'), Buffer.from('tty-pw'));
  });

  test('backspace edits the hidden input', async () => {
    const d = await freshDir();
    const r = await inPty(d, ['generate-key-pair'], [[PROMPT, 'abX\x7fc\r'], [AGAIN, 'abc\r']]);
    assert.equal(r.code, 0, r.screen);
    decryptPrivateKey(await readFile(join(d, 'cosign.key'), 'utf8'), Buffer.from('abc'));
  });

  test('mismatched passwords fail with one line and write nothing', async () => {
    const d = await freshDir();
    const r = await inPty(d, ['generate-key-pair'], [[PROMPT, 'one\r'], [AGAIN, 'two\r']]);
    assert.equal(r.code, 2, r.screen);
    assert.match(r.screen, /Error: passwords do not match\r\n$/);
    assert.deepEqual(await readdir(d), []);
  });

  test('existing files: "n" keeps them, "y" overwrites', async () => {
    const d = await freshDir();
    assert.equal((await inPty(d, ['generate-key-pair'], [[PROMPT, 'a\r'], [AGAIN, 'a\r']])).code, 0);
    const first = await readFile(join(d, 'cosign.key'), 'utf8');
    const no = await inPty(d, ['generate-key-pair'], [['File cosign.key already exists. Overwrite (y/n)? ', 'n\r']]);
    assert.notEqual(no.code, 0);
    assert.match(no.screen, /Error: not overwriting cosign\.key/);
    assert.equal(await readFile(join(d, 'cosign.key'), 'utf8'), first);

    const yes = await inPty(d, ['generate-key-pair'], [
      ['File cosign.key already exists. Overwrite (y/n)? ', 'y\r'],
      ['File cosign.pub already exists. Overwrite (y/n)? ', 'y\r'],
      [PROMPT, 'b\r'],
      [AGAIN, 'b\r'],
    ]);
    assert.equal(yes.code, 0, yes.screen);
    decryptPrivateKey(await readFile(join(d, 'cosign.key'), 'utf8'), Buffer.from('b'));
  });

  test('public-key asks once', async () => {
    const d = await freshDir();
    assert.equal((await inPty(d, ['generate-key-pair'], [[PROMPT, 'pk\r'], [AGAIN, 'pk\r']])).code, 0);
    const r = await inPty(d, ['public-key', '--key', 'cosign.key'], [[PROMPT, 'pk\r']]);
    assert.equal(r.code, 0, r.screen);
    assert.ok(!r.screen.includes(AGAIN));
    assert.match(r.screen, /-----BEGIN PUBLIC KEY-----/);
  });
});

describe('PKCS#11 PIN prompt', { skip: hasScript ? false : 'util-linux script not installed' }, () => {
  test('a token that needs a login and no PIN given: asked for on the terminal, without echo, as cosign asks', async () => {
    const d = await freshDir();
    const token = createSoftToken(d, 'tty-token', '4321');
    token.generate('EC:prime256v1', 'release', '0a');
    await writeFile(join(d, 'blob.txt'), 'hello');
    const prompt = "Enter PIN for key 'release' in PKCS11 token 'tty-token': ";
    const r = await inPty(d, ['sign-blob', '--key', token.uri('release', { pin: false }), '--tlog-upload=false', '--bundle', 'b.json', 'blob.txt'], [[prompt, '4321\r']], token.env);
    assert.equal(r.code, 0, r.screen);
    assert.ok(!r.screen.includes('4321'), `PIN echoed: ${JSON.stringify(r.screen)}`);
    const wrong = await inPty(d, ['sign-blob', '--key', token.uri('release', { pin: false }), '--tlog-upload=false', '--bundle', 'c.json', 'blob.txt'], [[prompt, '1111\r']], token.env);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.screen, /Error: wrong PIN for PKCS#11 token "tty-token"/);
  });
});
