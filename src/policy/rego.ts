/**
 * Rego policies, with cosign's semantics: the statement is `input`, the query is `data.signature.allow`,
 * and only a result of exactly `true` passes (`false`, another value or an undefined result fail), with
 * Rego v0 syntax (`allow { … }`).
 *
 * No Rego evaluator runs inside Node from the npm registry: OPA's WebAssembly SDK runs only policies
 * compiled beforehand by `opa build`, and there is no maintained Rego interpreter in JavaScript. So Signet
 * runs the `opa` command found on PATH, one `opa eval` per batch of statements (the statements as an
 * array on standard input, each evaluated `with input as` itself; a lone statement, or each statement of a
 * batch that failed, goes through cosign's query with itself as `input`); without one, loading a .rego
 * policy fails with a message that says so.
 */
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { SignetError } from '../errors.js';
import type { AttestationPolicy, PolicyVerdict } from './types.js';

const QUERY = 'data.signature.allow';
/** Every statement of the input array evaluated alone; an index missing from the answer is undefined. */
const BATCH_QUERY = `{i: v | some i; s := input[i]; v := ${QUERY} with input as s}`;
const RUN_MAX_STATEMENTS = 1000;

/** The first executable `name` on `pathEnv` (PATH's format), or undefined. */
export async function findOnPath(name: string, pathEnv = process.env.PATH ?? ''): Promise<string | undefined> {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: readonly string[], input?: string): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new SignetError('IO', `could not run ${file}: ${e.message}`, { cause: e })));
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** OPA's JSON errors (`{"errors":[{"message", "location"}]}`) or its plain stderr, as one line. */
function opaError(res: Exec, name: string, file: string): string {
  return opaMessage(res, name).split(file).join(name);
}

function opaMessage(res: Exec, name: string): string {
  try {
    const parsed = JSON.parse(res.stdout || res.stderr) as { errors?: { message?: string; location?: { row?: number; col?: number } }[] };
    const msgs = (parsed.errors ?? []).map((e) => (e.location?.row ? `${e.message} (at ${name}:${e.location.row}:${e.location.col ?? 0})` : String(e.message)));
    if (msgs.length > 0) return msgs.join('; ');
  } catch {
    // not JSON
  }
  return (res.stderr || res.stdout).trim().replace(/\s*\n\s*/g, ' ') || `opa exited with code ${res.code}`;
}

class RegoPolicy implements AttestationPolicy {
  readonly language = 'rego' as const;

  constructor(
    readonly name: string,
    private readonly text: string,
    private readonly opa: string,
    private readonly flags: readonly string[],
  ) {}

  async evaluate(statements: readonly unknown[]): Promise<PolicyVerdict[]> {
    if (statements.length === 0) return [];
    const dir = await mkdtemp(join(tmpdir(), 'signet-rego-'));
    try {
      const file = join(dir, 'policy.rego');
      await writeFile(file, this.text, { mode: 0o600 });
      const out: PolicyVerdict[] = [];
      for (let i = 0; i < statements.length; i += RUN_MAX_STATEMENTS) {
        out.push(...(await this.run(file, statements.slice(i, i + RUN_MAX_STATEMENTS))));
      }
      return out;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async run(file: string, statements: readonly unknown[]): Promise<PolicyVerdict[]> {
    if (statements.length === 1) return [await this.runOne(file, statements[0])];
    const res = await exec(this.opa, ['eval', '--format', 'json', ...this.flags, '--data', file, '--stdin-input', BATCH_QUERY], JSON.stringify(statements));
    if (res.code !== 0) {
      // An evaluation error (conflicting rule values, a failing built-in): find whose, one at a time.
      const out: PolicyVerdict[] = [];
      for (const s of statements) out.push(await this.runOne(file, s));
      return out;
    }
    const v = this.value(res);
    const values = v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
    return statements.map((_, i) => this.verdict(String(i) in values, values[String(i)]));
  }

  /** cosign's own query over one statement as `input`. */
  private async runOne(file: string, statement: unknown): Promise<PolicyVerdict> {
    const res = await exec(this.opa, ['eval', '--format', 'json', ...this.flags, '--data', file, '--stdin-input', QUERY], JSON.stringify(statement));
    if (res.code !== 0) return { ok: false, policy: this.name, reason: opaError(res, this.name, file) };
    const parsed = this.parsed(res);
    const expressions = parsed.result?.[0]?.expressions;
    return this.verdict(expressions !== undefined && expressions.length > 0, expressions?.[0]?.value);
  }

  private parsed(res: Exec): { result?: { expressions?: { value?: unknown }[] }[] } {
    try {
      return JSON.parse(res.stdout) as { result?: { expressions?: { value?: unknown }[] }[] };
    } catch (e) {
      throw new SignetError('MALFORMED', `opa eval answered something that is not JSON for ${this.name}`, { cause: e });
    }
  }

  private value(res: Exec): unknown {
    return this.parsed(res).result?.[0]?.expressions?.[0]?.value;
  }

  private verdict(defined: boolean, value: unknown): PolicyVerdict {
    if (!defined) return { ok: false, policy: this.name, reason: `result is undefined for query '${QUERY}'` };
    if (value === true) return { ok: true, policy: this.name };
    return { ok: false, policy: this.name, reason: `${QUERY} is ${JSON.stringify(value)}, not true` };
  }
}

/** Check a Rego policy with `opa check` and return its evaluator; USAGE error when no `opa` is on PATH. */
export async function loadRegoPolicy(name: string, text: string, pathEnv?: string): Promise<AttestationPolicy> {
  const opa = await findOnPath('opa', pathEnv);
  if (!opa) {
    throw new SignetError(
      'USAGE',
      `Rego policy ${name}: Rego policies are evaluated by OPA's opa command and none is on PATH (no Rego evaluator runs inside Node); install opa, or write the policy in CUE (.cue) or CEL (.cel)`,
    );
  }
  // OPA 1.x reads Rego v1 unless told otherwise; cosign's policies are v0.
  const version = await exec(opa, ['version']);
  const major = Number(/Version:\s*v?(\d+)\./.exec(version.stdout)?.[1] ?? '0');
  const flags = major >= 1 ? ['--v0-compatible'] : [];
  const dir = await mkdtemp(join(tmpdir(), 'signet-rego-'));
  try {
    const file = join(dir, 'policy.rego');
    await writeFile(file, text, { mode: 0o600 });
    const res = await exec(opa, ['check', '--format', 'json', ...flags, file]);
    if (res.code !== 0) throw new SignetError('MALFORMED', `Rego policy ${name}: ${opaError(res, name, file)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return new RegoPolicy(name, text, opa, flags);
}
