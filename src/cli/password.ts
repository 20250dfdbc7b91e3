/**
 * Passwords for encrypted keys, found the way cosign finds them: `COSIGN_PASSWORD` when set (even to
 * the empty string), else a no-echo prompt on the terminal, else all of stdin (CI pipes). The password
 * is never printed or logged.
 */
import { createInterface } from 'node:readline';
import { SignetError } from '../errors.js';
import { setPinPrompt } from '../keys/pkcs11.js';

export interface ReadPasswordOptions {
  /** Ask twice and require both answers to match (when creating a key). */
  confirm: boolean;
  prompt?: string;
}

const DEFAULT_PROMPT = 'Enter password for private key: ';
const CONFIRM_PROMPT = 'Enter password for private key again: ';

/** Where the last password came from, for the hints below; never the password itself. */
export type PasswordOrigin = 'env' | 'terminal' | 'stdin';
let last: { origin: PasswordOrigin; empty: boolean; trailingNewline: boolean } | undefined;

function remember(origin: PasswordOrigin, pw: Buffer): Buffer {
  last = { origin, empty: pw.length === 0, trailingNewline: pw.length > 0 && pw[pw.length - 1] === 0x0a };
  return pw;
}

const NEWLINE_COUNTS =
  'the password read from standard input ends in a newline, which is part of the password (as in cosign)';
const WITHOUT_NEWLINE = 'pipe it without one (printf \'%s\' "$PASSWORD" | signet …) or set COSIGN_PASSWORD';

/** For a wrong-password error: the hint that a piped password's trailing newline counts. */
export function wrongPasswordHint(): string {
  return last?.origin === 'stdin' && last.trailingNewline ? `; ${NEWLINE_COUNTS}: ${WITHOUT_NEWLINE}` : '';
}

/**
 * What a person should know about the password a new key was just encrypted with: an empty one (no
 * terminal, nothing piped, or COSIGN_PASSWORD=""), or a piped one whose trailing newline is now part
 * of it. Undefined when there is nothing to say.
 */
export function newKeyPasswordNotice(keyPath: string): { warning?: string; note?: string } {
  if (!last) return {};
  if (last.empty) {
    const why =
      last.origin === 'env'
        ? 'COSIGN_PASSWORD is set to the empty string'
        : last.origin === 'stdin'
          ? 'standard input is not a terminal and gave no password, and COSIGN_PASSWORD is not set'
          : 'the password entered was empty';
    return { warning: `${keyPath} is encrypted with an empty password (${why}): anyone with the file can sign with it` };
  }
  if (last.origin === 'stdin' && last.trailingNewline) {
    return {
      note: `Note: ${NEWLINE_COUNTS}: pipe it the same way when signing, or make the key again without it (printf '%s' "$PASSWORD" | signet …, or COSIGN_PASSWORD)`,
    };
  }
  return {};
}

// PKCS#11 PINs are asked for on the terminal like passwords (pkcs11.ts asks only when stdin is one).
setPinPrompt(async (prompt) => {
  const pin = await promptHidden(prompt);
  const text = pin.toString('utf8');
  pin.fill(0);
  return text;
});

export async function readPassword(opts: ReadPasswordOptions): Promise<Buffer> {
  const fromEnv = process.env.COSIGN_PASSWORD;
  if (fromEnv !== undefined) return remember('env', Buffer.from(fromEnv, 'utf8'));
  if (process.stdin.isTTY) {
    const first = await promptHidden(opts.prompt ?? DEFAULT_PROMPT);
    if (!opts.confirm) return remember('terminal', first);
    const again = await promptHidden(CONFIRM_PROMPT);
    const same = first.equals(again);
    again.fill(0);
    if (!same) {
      first.fill(0);
      throw new SignetError('USAGE', 'passwords do not match');
    }
    return remember('terminal', first);
  }
  return remember('stdin', await readAllStdin());
}

/**
 * All of stdin, byte for byte. cosign keeps a trailing newline too (`echo pw | cosign …` uses "pw\n"),
 * and keys must open with the same password in both tools.
 */
async function readAllStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  } catch (e) {
    throw new SignetError('IO', `cannot read the password from standard input: ${(e as Error).message}`, { cause: e });
  }
  const buf = Buffer.concat(chunks);
  chunks.forEach((c) => c.fill(0));
  return buf;
}

/** Read one line from the terminal in raw mode so nothing is echoed. */
function promptHidden(prompt: string): Promise<Buffer> {
  const stdin = process.stdin;
  // Raw mode before the prompt appears, or a quick typist's answer is echoed by the terminal.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise<Buffer>((resolve, reject) => {
    const bytes: number[] = [];
    const finish = (err?: SignetError): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      const out = Buffer.from(bytes);
      bytes.fill(0);
      if (err) {
        out.fill(0);
        reject(err);
      } else resolve(out);
    };
    const onData = (chunk: Buffer): void => {
      for (const b of chunk) {
        if (b === 0x0d || b === 0x0a) return finish();
        if (b === 0x03) return finish(new SignetError('USAGE', 'interrupted'));
        if (b === 0x04) {
          if (bytes.length === 0) return finish(new SignetError('USAGE', 'no password entered'));
          return finish();
        }
        if (b === 0x7f || b === 0x08) {
          // Drop one whole UTF-8 character: continuation bytes are 10xxxxxx.
          while (bytes.length > 0 && (bytes.pop()! & 0xc0) === 0x80);
          continue;
        }
        bytes.push(b);
      }
    };
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Ask a yes/no question on the terminal (stderr); anything but y/yes is no. */
export async function askYesNo(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    const answer = await new Promise<string>((resolve) => rl.question(question, resolve));
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}
