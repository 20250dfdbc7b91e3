/**
 * CUE policies, with cosign's semantics: the statement's JSON, compiled as CUE, is unified with the policy
 * and the result must hold no error (cosign's `Value.Validate()`: conflicts and failed constraints fail,
 * fields the statement leaves open do not).
 *
 * Evaluated in batches: the policy's declarations go inside one hidden struct, and each statement is
 * unified with that struct under a hidden field of its own, so one run of the CUE tool checks many
 * statements and names the statement each error belongs to (`_signetStatement7.predicate…`). Within the
 * struct the policy's own references bind as they do at the top of a file, so the checks are the same as
 * unifying the policy with each statement alone. Evaluations asked for while a run is under way are
 * gathered into the next run.
 */
import { SignetError } from '../errors.js';
import { runCue } from './cue-runtime.js';
import type { AttestationPolicy, PolicyVerdict } from './types.js';

const POLICY = '_signetPolicy';
const STATEMENT = '_signetStatement';
/** A run's input is bounded: past this many bytes of statements (or this many statements), another run. */
const RUN_MAX_BYTES = 8 * 1024 * 1024;
const RUN_MAX_STATEMENTS = 1000;

/** The policy split into its file header (package clause, imports) and its declarations. */
interface SplitPolicy {
  /** The imports, verbatim, with the package clause blanked out (same length, so positions hold). */
  header: string;
  body: string;
  /** Lines of the policy file: a position on a later line of the generated input is not in the policy. */
  lines: number;
}

/** Skip spaces, newlines and `//` comments from `i`. */
function skipTrivia(s: string, i: number): number {
  for (;;) {
    while (i < s.length && /\s/.test(s[i]!)) i++;
    if (s.startsWith('//', i)) {
      const nl = s.indexOf('\n', i);
      i = nl < 0 ? s.length : nl + 1;
      continue;
    }
    return i;
  }
}

function keywordAt(s: string, i: number, word: string): boolean {
  return s.startsWith(word, i) && !/[\w$#]/.test(s[i + word.length] ?? '');
}

/** The end of a string literal starting at `i` (a `"` or a backquote-free CUE string; no multi-line forms). */
function skipString(s: string, i: number): number {
  let j = i + 1;
  while (j < s.length && s[j] !== '"' && s[j] !== '\n') j += s[j] === '\\' ? 2 : 1;
  return j + 1;
}

/**
 * The package clause and import declarations of a CUE file, found by a small scanner (the grammar puts
 * them first: `[package name] {import …}`). Anything it does not recognize is left in the body, where
 * CUE's own parser judges it.
 */
export function splitCuePolicy(text: string): SplitPolicy {
  let header = '';
  let i = skipTrivia(text, 0);
  let end = 0;
  if (keywordAt(text, i, 'package')) {
    const m = /^package\s+[\w$#]+/.exec(text.slice(i));
    if (m) {
      header = text.slice(0, i) + ' '.repeat(m[0].length);
      end = i + m[0].length;
      i = skipTrivia(text, end);
    }
  }
  for (;;) {
    if (!keywordAt(text, i, 'import')) break;
    let j = skipTrivia(text, i + 'import'.length);
    if (text[j] === '(') {
      const close = findImportGroupEnd(text, j + 1);
      if (close < 0) break;
      j = close + 1;
    } else {
      const m = /^(?:[\w$#]+\s+)?"/.exec(text.slice(j));
      if (!m) break;
      j = skipString(text, j + m[0].length - 1);
    }
    header += text.slice(end, j);
    end = j;
    i = skipTrivia(text, end);
  }
  if (end === 0) return { header: '', body: text, lines: text.split('\n').length };
  return { header, body: text.slice(end), lines: text.split('\n').length };
}

function findImportGroupEnd(s: string, i: number): number {
  while (i < s.length) {
    i = skipTrivia(s, i);
    if (s[i] === ')') return i;
    if (s[i] === '"') i = skipString(s, i);
    else if (/[\w$#,;]/.test(s[i] ?? '')) i++;
    else return -1;
  }
  return -1;
}

/** What goes between the header and the body: the header's declarations need a separator (a comma keeps the lines). */
function opening(split: SplitPolicy): string {
  return `${split.header.trim() === '' ? '' : ','}${POLICY}: {`;
}

/** A position in the generated input as a position in the policy file (same line; the first body line is shifted). */
function policyPosition(split: SplitPolicy, line: number, col: number): [number, number] {
  const headerLines = split.header.split('\n');
  const lastHeaderLine = headerLines.length;
  const bodyStartCol = headerLines[headerLines.length - 1]!.length + 1;
  const shift = opening(split).length;
  if (line === lastHeaderLine && col >= bodyStartCol + shift) return [line, col - shift];
  return [line, col];
}

/** The CUE input for one run: the policy inside its hidden struct, then one hidden field per statement. */
function generate(split: SplitPolicy, statements: readonly string[]): string {
  const parts = [split.header, opening(split), split.body, '\n}\n'];
  statements.forEach((json, k) => parts.push(`${STATEMENT}${k}: ${POLICY} & ${json}\n`));
  return parts.join('');
}

interface RunErrors {
  /** Error lines per statement index, their prefix removed. */
  byStatement: Map<number, string[]>;
  /** Errors that name no statement. */
  other: string[];
}

/**
 * CUE's error output: a line per error (`path: message:`), then its positions indented (`    -:4:37`).
 * Positions inside the policy are kept as `file:line:col`; those in the statements are dropped.
 */
function parseErrors(stderr: string, policyName: string, split: SplitPolicy): RunErrors {
  type Entry = { text: string; at: string[] };
  const byStatement = new Map<number, Entry[]>();
  const other: Entry[] = [];
  let current: Entry | undefined;
  const statementRe = new RegExp(`^${STATEMENT}(\\d+)(?:\\.|: ?)`);
  for (const raw of stderr.split('\n')) {
    if (raw.trim() === '') continue;
    const pos = /^\s+-:(\d+):(\d+)\s*$/.exec(raw);
    if (pos) {
      const line = Number(pos[1]);
      if (current && line <= split.lines) {
        const [l, c] = policyPosition(split, line, Number(pos[2]));
        current.at.push(`${policyName}:${l}:${c}`);
      }
      continue;
    }
    if (/^\s/.test(raw)) continue;
    let text = raw.replace(/:\s*$/, '');
    const m = statementRe.exec(text);
    let list: Entry[];
    if (m) {
      const k = Number(m[1]);
      text = text.slice(m[0].length).trimStart();
      list = byStatement.get(k) ?? [];
      byStatement.set(k, list);
    } else {
      text = text.replace(new RegExp(`^${POLICY}(?:\\.|: ?)`), '');
      list = other;
    }
    current = { text, at: [] };
    list.push(current);
  }
  const show = (entries: Entry[]) => entries.map((e) => (e.at.length > 0 ? `${e.text} (at ${e.at.join(', ')})` : e.text));
  return { byStatement: new Map([...byStatement].map(([k, v]) => [k, show(v)])), other: show(other) };
}

/** CUE's errors as one line, at most a few KiB (an error can quote a whole SBOM). */
function oneLine(errors: string[]): string {
  const line = errors.join('; ').replace(/\s*\n\s*/g, ' ');
  return line.length > 4000 ? `${line.slice(0, 3997)}...` : line;
}

interface Pending {
  statements: readonly unknown[];
  resolve: (v: PolicyVerdict[]) => void;
  reject: (e: unknown) => void;
}

class CuePolicy implements AttestationPolicy {
  readonly language = 'cue' as const;
  private pending: Pending[] = [];
  private running = false;

  constructor(
    readonly name: string,
    private readonly split: SplitPolicy,
  ) {}

  evaluate(statements: readonly unknown[]): Promise<PolicyVerdict[]> {
    if (statements.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.pending.push({ statements, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Let the calls of this turn join the first run.
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Run everything pending as few runs as the bounds allow; calls made meanwhile wait for the next. */
  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const jobs = this.pending;
      this.pending = [];
      try {
        const all = jobs.flatMap((j) => j.statements);
        const verdicts = await this.evaluateAll(all);
        let at = 0;
        for (const j of jobs) {
          j.resolve(verdicts.slice(at, at + j.statements.length));
          at += j.statements.length;
        }
      } catch (e) {
        for (const j of jobs) j.reject(e);
      }
    }
    this.running = false;
  }

  private async evaluateAll(statements: readonly unknown[]): Promise<PolicyVerdict[]> {
    const json = statements.map((s) => JSON.stringify(s) ?? 'null');
    const out: PolicyVerdict[] = [];
    let start = 0;
    while (start < json.length) {
      let end = start;
      let bytes = 0;
      while (end < json.length && end - start < RUN_MAX_STATEMENTS && (end === start || bytes + json[end]!.length <= RUN_MAX_BYTES)) {
        bytes += json[end]!.length;
        end++;
      }
      out.push(...(await this.run(json.slice(start, end))));
      start = end;
    }
    return out;
  }

  private async run(json: readonly string[]): Promise<PolicyVerdict[]> {
    const res = await runCue(['eval', '-'], generate(this.split, json));
    if (res.code === 0) return json.map(() => ({ ok: true, policy: this.name }));
    const errors = parseErrors(res.stderr, this.name, this.split);
    if (errors.other.length > 0 || errors.byStatement.size === 0) {
      // An error that names no statement: CUE stopped on something it did not tie to one of them. Check
      // the halves apart until each such error has its statement, so that none passes on another's
      // account and each failure says why.
      if (json.length === 1) {
        const why = oneLine(errors.other.length > 0 ? errors.other : [res.stderr.trim() || `cue exited with code ${res.code}`]);
        return [{ ok: false, policy: this.name, reason: why }];
      }
      const half = Math.ceil(json.length / 2);
      return [...(await this.run(json.slice(0, half))), ...(await this.run(json.slice(half)))];
    }
    // The statements no error named pass only after a run of their own exits cleanly: a pass is never
    // read from the absence of a line in another run's output.
    const unnamed = json.map((_, k) => k).filter((k) => !errors.byStatement.has(k));
    const confirmed = unnamed.length > 0 ? await this.run(unnamed.map((k) => json[k]!)) : [];
    const byIndex = new Map(unnamed.map((k, i) => [k, confirmed[i]!]));
    return json.map((_, k) => {
      const errs = errors.byStatement.get(k);
      return errs ? { ok: false, policy: this.name, reason: oneLine(errs) } : byIndex.get(k)!;
    });
  }
}

/** Compile-check a CUE policy (syntax, references, conflicts within it) and return its evaluator. */
export async function loadCuePolicy(name: string, text: string): Promise<AttestationPolicy> {
  const split = splitCuePolicy(text);
  const res = await runCue(['eval', '-'], generate(split, []));
  if (res.code !== 0) {
    const errors = parseErrors(res.stderr, name, split);
    const why = oneLine([...errors.other, ...[...errors.byStatement.values()].flat()]) || res.stderr.trim();
    throw new SignetError('MALFORMED', `CUE policy ${name}: ${why}`);
  }
  return new CuePolicy(name, split);
}
