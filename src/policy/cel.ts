/**
 * CEL policies (Signet's own): the file holds one CEL expression that must evaluate to `true` for each
 * statement. Compiled once (parse, a check that every name it uses is declared, plan), evaluated per
 * statement through `@bufbuild/cel`, with the strings extension (`lowerAscii`, `split`, `indexOf`, …).
 *
 * Variables:
 *   statement      the whole in-toto statement (a map: `statement._type`, `statement.subject`, …)
 *   predicate      statement.predicate
 *   subject        statement.subject, a list of {name, digest: {alg: hex}}
 *   predicateType  statement.predicateType, a string
 * JSON numbers are doubles, objects maps and arrays lists. A field the statement lacks is an evaluation
 * error (test with `has(predicate.x)` first); an error, or a value other than a bool, fails the policy.
 *
 * Example: predicate.runDetails.builder.id.startsWith("https://github.com/my-org/") &&
 *          subject.all(s, s.digest.sha256.size() == 64)
 */
import { CelScalar, celEnv, isCelError, parse, plan, type CelResult, type CelValue } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
// @bufbuild/cel's own regular-expression engine (RE2 semantics), installed with it at the same version.
import { RE2JS } from '@bufbuild/re2';
import { SignetError } from '../errors.js';
import type { AttestationPolicy, PolicyVerdict } from './types.js';

const VARIABLES = {
  statement: CelScalar.DYN,
  predicate: CelScalar.DYN,
  subject: CelScalar.DYN,
  predicateType: CelScalar.DYN,
} as const;

/**
 * `matches()` with each pattern compiled once: the library's default compiles the pattern on every call,
 * which made a policy with two `matches()` over a provenance statement five times slower. Same engine, so
 * the same RE2 semantics. Bounded: a policy has few patterns, but a pattern may be built from the data.
 */
const compiled = new Map<string, { test(text: string): boolean }>();
const re2 = {
  compile(pattern: string) {
    let m = compiled.get(pattern);
    if (!m) {
      m = RE2JS.compile(pattern);
      if (compiled.size >= 256) compiled.clear();
      compiled.set(pattern, m);
    }
    return m;
  },
};

const env = celEnv({ variables: VARIABLES, funcs: strings, re2 });

/** Type names CEL resolves as identifiers (`type(x) == string`). */
const TYPE_NAMES = new Set(['bool', 'int', 'uint', 'double', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);

type Expr = ReturnType<typeof parse>['expr'];

/** Names an expression uses that are neither declared nor bound by a comprehension (cel-go reports these at compile). */
function undeclared(expr: Expr | undefined, bound: ReadonlySet<string>, out: Set<string>): void {
  if (!expr) return;
  const k = expr.exprKind;
  switch (k.case) {
    case 'identExpr':
      if (!(k.value.name in VARIABLES) && !bound.has(k.value.name) && !TYPE_NAMES.has(k.value.name)) out.add(k.value.name);
      return;
    case 'selectExpr':
      return undeclared(k.value.operand, bound, out);
    case 'callExpr':
      undeclared(k.value.target, bound, out);
      for (const a of k.value.args) undeclared(a, bound, out);
      return;
    case 'listExpr':
      for (const e of k.value.elements) undeclared(e, bound, out);
      return;
    case 'structExpr':
      for (const e of k.value.entries) {
        if (e.keyKind.case === 'mapKey') undeclared(e.keyKind.value, bound, out);
        undeclared(e.value, bound, out);
      }
      return;
    case 'comprehensionExpr': {
      const c = k.value;
      undeclared(c.iterRange, bound, out);
      undeclared(c.accuInit, bound, out);
      const inner = new Set(bound);
      for (const v of [c.iterVar, c.iterVar2, c.accuVar]) if (v) inner.add(v);
      undeclared(c.loopCondition, inner, out);
      undeclared(c.loopStep, inner, out);
      const result = new Set(bound);
      result.add(c.accuVar);
      undeclared(c.result, result, out);
      return;
    }
    default:
      return;
  }
}

/** The source without its `//` comments; string literals (', ", ''', """, raw or not) are kept whole. */
function withoutComments(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const raw = /[rR]/.test(source[i - 1] ?? '');
      const quote = source.startsWith(ch.repeat(3), i) ? ch.repeat(3) : ch;
      let j = i + quote.length;
      while (j < source.length && !source.startsWith(quote, j)) j += !raw && source[j] === '\\' ? 2 : 1;
      j = Math.min(source.length, j + quote.length);
      out += source.slice(i, j);
      i = j;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

/** The expression as one line, shortened for messages. */
function shown(source: string): string {
  const flat = withoutComments(source).replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

function describe(v: CelValue): string {
  if (typeof v === 'bigint') return `${v} (int)`;
  if (typeof v === 'number') return `${v} (double)`;
  if (typeof v === 'string') return `${JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v)} (string)`;
  if (v === null) return 'null';
  return `a value of another type`;
}

class CelPolicy implements AttestationPolicy {
  readonly language = 'cel' as const;
  private readonly expr: string;

  constructor(
    readonly name: string,
    source: string,
    private readonly program: ReturnType<typeof plan<typeof VARIABLES>>,
  ) {
    this.expr = shown(source);
  }

  evaluate(statements: readonly unknown[]): Promise<PolicyVerdict[]> {
    return Promise.resolve(statements.map((s) => this.evaluateOne(s)));
  }

  evaluateOne(statement: unknown): PolicyVerdict {
    const fail = (why: string): PolicyVerdict => ({ ok: false, policy: this.name, reason: `CEL expression ${this.expr}: ${why}` });
    if (typeof statement !== 'object' || statement === null || Array.isArray(statement)) return fail('the statement is not a JSON object');
    const st = statement as Record<string, unknown>;
    let result: CelResult;
    try {
      result = this.program({
        statement: st as never,
        predicate: (st.predicate ?? null) as never,
        subject: (st.subject ?? null) as never,
        predicateType: (st.predicateType ?? null) as never,
      });
    } catch (e) {
      return fail(`evaluation failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (isCelError(result)) return fail(`evaluation failed: ${result.message}`);
    if (result === true) return { ok: true, policy: this.name };
    if (result === false) return fail('false');
    return fail(`returned ${describe(result)}, not a bool`);
  }
}

/** Compile a CEL policy; a syntax error or an undeclared name is a MALFORMED error naming the file. */
export function loadCelPolicy(name: string, source: string): AttestationPolicy {
  if (source.trim() === '') throw new SignetError('MALFORMED', `CEL policy ${name}: the file holds no expression`);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (e) {
    throw new SignetError('MALFORMED', `CEL policy ${name}: ${e instanceof Error ? e.message.replace(/^<input>:/, 'line ') : String(e)}`);
  }
  const names = new Set<string>();
  undeclared(parsed.expr, new Set(), names);
  if (names.size > 0) {
    throw new SignetError(
      'MALFORMED',
      `CEL policy ${name}: undeclared reference to ${[...names].map((n) => `'${n}'`).join(', ')} (the variables are statement, predicate, subject and predicateType)`,
    );
  }
  let program: ReturnType<typeof plan<typeof VARIABLES>>;
  try {
    program = plan(env, parsed);
  } catch (e) {
    throw new SignetError('MALFORMED', `CEL policy ${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return new CelPolicy(name, source, program);
}
