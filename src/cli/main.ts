#!/usr/bin/env node
/**
 * The `signet` command: a thin porcelain over the library. Each command module registers itself;
 * errors become one line on stderr and the exit code of their SignetError code.
 */
import { Command, CommanderError } from 'commander';
import { captureStdout, capturedStdout, normalizeBooleanFlags, opt } from './common.js';
import { describeError, SignetError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { deadlineSignal, parseDuration, withNetOptions, type NetOptions } from '../net.js';
import { registerAll } from './commands/index.js';
import { nodeTooOld } from './node-version.js';

// `signet … | head` closes stdout early: that is the reader's choice, not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

/** The command's network options: -t/--timeout bounds every network wait (not `serve`, which runs until stopped). */
const net: NetOptions = {};

export async function main(argv: string[]): Promise<number> {
  const program = new Command('signet')
    .description('Sign and verify container images and artifacts, compatible with Sigstore cosign')
    .option('--version', 'print the version (as signet version does)')
    .option('-d, --verbose', 'print each HTTP request (method, URL, status, time) to stderr')
    .addOption(opt('-t, --timeout <duration>', 'timeout for commands (e.g. 30s, 3m; 0 for none)', '3m'))
    .option('--output-file <file>', 'write what would go to stdout to this file instead (written whole when the command succeeds)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(add --help for usage)');
  // `signet --version` is `signet version`.
  if (argv[0] === '--version') argv = ['version', ...argv.slice(1)];
  program.hook('preAction', async () => {
    const global = program.opts<{ verbose?: boolean; outputFile?: string; version?: boolean }>();
    if (global.version) throw new SignetError('USAGE', '--version takes no command: signet --version (or signet version)');
    if (global.verbose) (await import('./verbose.js')).enableRequestLog();
    if (global.outputFile !== undefined) {
      if (global.outputFile === '') throw new SignetError('USAGE', '--output-file needs a file name');
      captureStdout();
    }
  });
  // cosign accepts single-dash long flags (-key); normalise them like cosign's main does.
  await registerAll(program, argv);
  const args = normalizeBooleanFlags(program, argv.map((a) => (/^-[a-z][a-z-]+(=.*)?$/.test(a) && a.length > 2 && !a.startsWith('--') ? '-' + a : a)));
  program.hook('preAction', (_program, action) => {
    let top = action;
    while (top.parent && top.parent !== program) top = top.parent;
    // `serve` runs until stopped; `log monitor` applies the deadline to each of its rounds itself.
    if (top.name() === 'serve' || (top.name() === 'log' && action.name() === 'monitor')) return;
    // The webhook runs until stopped, as serve does; `admission test` keeps the deadline.
    if (top.name() === 'admission' && action === top) return;
    const ms = parseDuration(String(program.opts().timeout));
    if (ms > 0) net.signal = deadlineSignal(ms, '-t/--timeout');
  });
  try {
    const tooOld = nodeTooOld(process.versions.node);
    if (tooOld) throw new SignetError('USAGE', tooOld);
    await withNetOptions(net, () => program.parseAsync(args, { from: 'user' }));
    const code = process.exitCode === undefined ? 0 : Number(process.exitCode);
    const out = capturedStdout();
    if (out !== undefined && code === 0) await writeFileAtomic(program.opts<{ outputFile: string }>().outputFile, out);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') return 0;
      return e.exitCode === 0 ? 0 : 2;
    }
    const code = e instanceof SignetError ? e.exitCode : 1;
    const hint = e instanceof SignetError && e.code === 'KEY_PASSWORD' ? (await import('./password.js')).wrongPasswordHint() : '';
    process.stderr.write(`Error: ${describeError(e)}${hint}\n`);
    if (process.env.SIGNET_DEBUG && e instanceof Error) process.stderr.write((e.stack ?? '') + '\n');
    return code;
  }
}

/** Resolves once everything written to a stream so far has been handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((r) => stream.write('', () => r()));
}

main(process.argv.slice(2)).then(
  async (code) => {
    process.exitCode = code;
    // After the deadline a connection may still be opening (undici gives up on it only after its own
    // connect timeout); do not wait for it.
    if (net.signal?.aborted) {
      await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
      process.exit(code);
    }
  },
  (e) => {
    process.stderr.write(`Error: ${describeError(e)}\n`);
    process.exitCode = 1;
  },
);
