/**
 * The images a Dockerfile builds from, for `dockerfile verify` (pure: text in, references out).
 *
 * What counts, as BuildKit reads a Dockerfile: every `FROM` (its `--platform=` and other flags read
 * aside, `AS name` recorded as a stage) and every `COPY --from=` naming an image rather than a stage.
 * A `FROM` or `--from` naming an earlier stage (by name or index) and `scratch` are not images. Variables
 * in a `FROM` are expanded from the `ARG`s declared before the first `FROM` (the only ones it can see);
 * in a `COPY --from`, from the ARGs its stage declares (`ARG NAME` brings a global one in). As in cosign,
 * whose only source is the environment, an environment variable of the same name overrides a default,
 * and an undeclared variable is taken from the environment or refused.
 * Logical lines follow the Dockerfile grammar: the `# escape=` directive, continuation lines, comment
 * lines (also inside a continuation) and here-documents, whose bodies are not instructions.
 */
import { SignetError } from '../errors.js';

export interface DockerfileImage {
  /** The reference after variable expansion. */
  ref: string;
  /** 1-based line of the instruction's first line. */
  line: number;
  instruction: 'FROM' | 'COPY --from';
  /** The stage it starts (`FROM … AS name`), or its index when unnamed. */
  stage?: string;
  /** `--platform=` as written (a variable such as $BUILDPLATFORM is left for the builder). */
  platform?: string;
}

export interface DockerfileImages {
  /** Every image reference in order of appearance (repeats included). */
  images: DockerfileImage[];
  /**
   * The final stage's base image, following `FROM <stage>` chains back to an image; undefined when the
   * final stage starts from `scratch`.
   */
  base?: DockerfileImage;
  /** Lines that were skipped as not being images, for the user: scratch and stage references. */
  skipped: Array<{ line: number; text: string; reason: string }>;
}

interface LogicalLine {
  line: number;
  text: string;
}

/** Split into logical lines: directives, comments, continuations and heredoc bodies handled. */
function logicalLines(source: string): LogicalLine[] {
  const raw = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  // Parser directives: comment lines of the form `# key=value` at the very top.
  for (const l of raw) {
    const m = /^\s*#\s*([a-zA-Z]+)\s*=\s*(\S*)\s*$/.exec(l);
    if (!m) break;
    if (m[1]!.toLowerCase() === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw new SignetError('MALFORMED', `Dockerfile: invalid escape directive "${m[2]}" (\\ or \`)`);
      escape = m[2]!;
    }
  }
  const out: LogicalLine[] = [];
  let current: LogicalLine | undefined;
  let heredocs: Array<{ word: string; stripTabs: boolean }> = [];
  for (let i = 0; i < raw.length; i++) {
    const text = raw[i]!;
    if (heredocs.length > 0) {
      const h = heredocs[0]!;
      const candidate = h.stripTabs ? text.replace(/^\t+/, '') : text;
      if (candidate === h.word) heredocs.shift();
      continue;
    }
    const trimmed = text.trim();
    if (!current && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (current && trimmed.startsWith('#')) continue; // comment inside a continuation
    if (current && trimmed === '') continue; // empty continuation line (deprecated but accepted)
    const body = text.replace(/\s+$/, '');
    const continues = body.endsWith(escape) && !body.endsWith(escape + escape);
    const piece = continues ? body.slice(0, -1) : body;
    if (current) current.text += piece;
    else current = { line: i + 1, text: piece.replace(/^\s+/, '') };
    if (!continues) {
      out.push(current);
      heredocs = heredocsOf(current.text);
      current = undefined;
    }
  }
  if (current) out.push(current);
  return out;
}

/** Here-documents opened by RUN/COPY/ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`); their bodies follow the line. */
function heredocsOf(text: string): Array<{ word: string; stripTabs: boolean }> {
  if (!/^(run|copy|add)\s/i.test(text)) return [];
  const found: Array<{ word: string; stripTabs: boolean }> = [];
  for (const m of text.matchAll(/<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g)) found.push({ word: m[3]!, stripTabs: m[1] === '-' });
  return found;
}

/** Shell-like words of an instruction's arguments (quotes removed; no variable expansion here). */
function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}

/**
 * Expand `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}` as the Dockerfile
 * grammar does. `lookup` returns undefined for an unset variable.
 */
export function expandDockerfileVars(text: string, lookup: (name: string) => string | undefined, where: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && text[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    if (c !== '$') {
      out += c;
      continue;
    }
    if (text[i + 1] === '{') {
      const end = text.indexOf('}', i + 2);
      if (end < 0) throw new SignetError('MALFORMED', `${where}: unterminated \${ in "${text}"`);
      const inner = text.slice(i + 2, end);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])(.*))?$/.exec(inner);
      if (!m) throw new SignetError('MALFORMED', `${where}: unsupported substitution \${${inner}} in "${text}"`);
      const value = lookup(m[1]!);
      const op = m[2];
      const word = m[3] ?? '';
      const set = op?.startsWith(':') ? value !== undefined && value !== '' : value !== undefined;
      if (op === undefined) out += need(m[1]!, value, where);
      else if (op.endsWith('-')) out += set ? value! : expandDockerfileVars(word, lookup, where);
      else out += set ? expandDockerfileVars(word, lookup, where) : '';
      i = end;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!m) {
      out += c;
      continue;
    }
    out += need(m[0], lookup(m[0]), where);
    i += m[0].length;
  }
  return out;
}

function need(name: string, value: string | undefined, where: string): string {
  if (value === undefined) throw new SignetError('USAGE', `${where}: $${name} has no value: declare it with ARG before the first FROM or set it in the environment`);
  return value;
}

/** The images of a Dockerfile's text. `env` stands in for build arguments (cosign's rule). */
export function dockerfileImages(source: string, env: Record<string, string | undefined> = {}): DockerfileImages {
  const args = new Map<string, string | undefined>();
  const lookup = (name: string): string | undefined => env[name] ?? args.get(name);
  /** ARGs of the current stage: a global one is visible only when the stage declares it again (`ARG NAME`). */
  let stageArgs = new Map<string, string | undefined>();
  const stageLookup = (name: string): string | undefined => env[name] ?? stageArgs.get(name);
  const images: DockerfileImage[] = [];
  const skipped: DockerfileImages['skipped'] = [];
  /** Stage name (lowercase) or index → what the stage starts from (an image, or undefined for scratch). */
  const stages = new Map<string, DockerfileImage | undefined>();
  let stageCount = 0;
  let lastStageBase: DockerfileImage | undefined;
  let sawFrom = false;
  for (const { line, text } of logicalLines(source)) {
    const [keyword, ...rest] = words(text);
    const instr = keyword!.toUpperCase();
    const where = `Dockerfile line ${line}`;
    if (instr === 'ARG') {
      for (const decl of rest) {
        const eq = decl.indexOf('=');
        const name = eq < 0 ? decl : decl.slice(0, eq);
        const value = eq < 0 ? undefined : unquote(decl.slice(eq + 1));
        if (!sawFrom) args.set(name, value === undefined ? undefined : expandDockerfileVars(value, lookup, where));
        else stageArgs.set(name, value === undefined ? args.get(name) : expandDockerfileVars(value, stageLookup, where));
      }
    } else if (instr === 'FROM') {
      sawFrom = true;
      stageArgs = new Map();
      const flags = rest.filter((w) => w.startsWith('--'));
      const operands = rest.filter((w) => !w.startsWith('--'));
      if (operands.length !== 1 && !(operands.length === 3 && operands[1]!.toUpperCase() === 'AS')) {
        throw new SignetError('MALFORMED', `${where}: FROM takes an image and an optional "AS name", got "${text}"`);
      }
      const platform = flags.find((f) => f.startsWith('--platform='))?.slice('--platform='.length);
      const ref = expandDockerfileVars(unquote(operands[0]!), lookup, where);
      const stageName = operands[2]?.toLowerCase();
      const stageKey = String(stageCount++);
      let base: DockerfileImage | undefined;
      if (ref.toLowerCase() === 'scratch') {
        skipped.push({ line, text, reason: 'scratch is an empty base, not an image' });
      } else if (stages.has(ref.toLowerCase())) {
        base = stages.get(ref.toLowerCase());
        skipped.push({ line, text, reason: `"${ref}" is an earlier stage` });
      } else {
        if (ref === '') throw new SignetError('MALFORMED', `${where}: the FROM image is empty after expanding variables`);
        base = { ref, line, instruction: 'FROM', stage: stageName ?? stageKey, ...(platform !== undefined ? { platform } : {}) };
        images.push(base);
      }
      stages.set(stageKey, base);
      if (stageName) stages.set(stageName, base);
      lastStageBase = base;
    } else if (instr === 'COPY') {
      const from = rest.find((w) => /^--from=/i.test(w));
      if (!from) continue;
      const ref = expandDockerfileVars(unquote(from.slice('--from='.length)), stageLookup, where);
      if (stages.has(ref.toLowerCase())) {
        skipped.push({ line, text: from, reason: `"${ref}" is an earlier stage` });
        continue;
      }
      if (ref === '') throw new SignetError('MALFORMED', `${where}: COPY --from is empty after expanding variables`);
      images.push({ ref, line, instruction: 'COPY --from' });
    }
  }
  if (!sawFrom) throw new SignetError('MALFORMED', 'Dockerfile: no FROM instruction');
  return { images, ...(lastStageBase ? { base: lastStageBase } : {}), skipped };
}

function unquote(s: string): string {
  if (s.length >= 2 && (s[0] === '"' || s[0] === "'") && s[s.length - 1] === s[0]) return s.slice(1, -1);
  return s;
}
