/**
 * The import rules of ARCHITECTURE.md, checked on the source: every relative import of every module under
 * src/ (static imports and re-exports, `import()`, and `require()` / `createRequire(...)(...)` of a string
 * literal) is read with the TypeScript parser, and
 *   - no module reaches itself again through its imports (no circles, type-only imports included);
 *   - each layer imports only the layers the table in ARCHITECTURE.md lists for it;
 *   - sigstore/ never imports rekor/; tlog/ and rekor/ import nothing that does I/O.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const srcDir = join(root, 'src');

interface Module {
  path: string; // relative to src/, with .ts
  relative: string[]; // imported modules, relative to src/, with .ts
  external: string[]; // bare specifiers (packages, node: builtins)
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Module specifiers of one file: declarations, import(), and require-style calls with a literal argument. */
function specifiersOf(fileName: string, text: string): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      out.push(n.moduleSpecifier.text);
    } else if (ts.isCallExpression(n) && n.arguments.length >= 1 && ts.isStringLiteralLike(n.arguments[0]!)) {
      const callee = n.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      // createRequire(import.meta.url)('./x.js') and friends: a call of a call's result.
      const isCreatedRequire = ts.isCallExpression(callee) && ts.isIdentifier(callee.expression) && /require/i.test(callee.expression.text);
      if (isImport || isRequire || isCreatedRequire) out.push(n.arguments[0].text);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

function loadModules(): Map<string, Module> {
  const mods = new Map<string, Module>();
  for (const file of sourceFiles(srcDir)) {
    const path = relative(srcDir, file).split(sep).join('/');
    const rel: string[] = [];
    const ext: string[] = [];
    for (const s of specifiersOf(file, readFileSync(file, 'utf8'))) {
      if (s.startsWith('.')) rel.push(normalize(join(dirname(path), s)).split(sep).join('/').replace(/\.js$/, '.ts'));
      else ext.push(s);
    }
    mods.set(path, { path, relative: rel, external: ext });
  }
  return mods;
}

/** The layer of a module: its top-level directory, or the file's name for the modules at the root of src/. */
function layerOf(path: string): string {
  const parts = path.split('/');
  return parts.length === 1 ? parts[0]!.replace(/\.ts$/, '') : parts[0]!;
}

/** Strongly connected components with more than one module (or a module importing itself): the circles. */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(c.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) strong(v);
  return out;
}

// ARCHITECTURE.md's table: the layers each layer may import besides itself. errors and version are
// leaves everyone may use; fsutil is I/O, so the pure layers do without it.
const EVERYONE = ['errors', 'version'];
const LAYERS: Record<string, string[] | '*'> = {
  cli: '*',
  index: '*', // the package entry point re-exports the public API
  conformance: ['sigstore', 'keys', 'fsutil'],
  admission: ['cosign', 'policy', 'sigstore', 'oci', 'keys', 'fsutil', 'net'],
  cosign: ['sigstore', 'oci', 'keys', 'policy', 'fsutil'],
  policy: ['fsutil'],
  server: ['rekor', 'sigstore', 'tlog', 'keys', 'native', 'batching', 'fsutil'],
  rekor: ['sigstore', 'tlog', 'keys', 'native', 'batching'],
  sigstore: ['tlog', 'keys', 'fsutil', 'net'],
  oci: ['fsutil', 'net'],
  keys: ['native', 'fsutil', 'net'],
  tlog: [],
  errors: [],
  fsutil: [],
  net: [],
  native: [],
  batching: [],
  version: [],
};
const IO_MODULES = /^node:(fs|fs\/promises|net|http|https|http2|child_process|dgram|tls|worker_threads)$/;
const PURE_LAYERS = ['tlog', 'rekor'];

const modules = loadModules();

test('src/ has modules to check, and every relative import resolves to one of them', () => {
  assert.ok(modules.size > 50, `only ${modules.size} modules found under ${srcDir}`);
  const missing = [...modules.values()].flatMap((m) => m.relative.filter((t) => !modules.has(t)).map((t) => `${m.path} -> ${t}`));
  assert.deepEqual(missing, []);
});

test('no circles: no module reaches itself through its imports', () => {
  const graph = new Map([...modules.values()].map((m) => [m.path, m.relative]));
  assert.deepEqual(circles(graph), []);
});

test('the circle finder finds circles (a self-check of the check above)', () => {
  const g = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', ['d.ts']],
    ['e.ts', ['a.ts']],
  ]);
  assert.deepEqual(circles(g), [['a.ts', 'b.ts', 'c.ts'], ['d.ts']]);
  assert.deepEqual(specifiersOf('x.ts', "import a from './a.js'; export * from './b.js'; const m = createRequire(import.meta.url)('./c.js'); await import('./d.js');"), ['./a.js', './b.js', './c.js', './d.js']);
});

test('each layer imports only the layers ARCHITECTURE.md allows it', () => {
  const bad: string[] = [];
  for (const m of modules.values()) {
    const from = layerOf(m.path);
    const allowed = LAYERS[from];
    assert.ok(allowed !== undefined, `${m.path}: layer "${from}" is not in ARCHITECTURE.md's table (add it there and here)`);
    if (allowed === '*') continue;
    for (const t of m.relative) {
      const to = layerOf(t);
      if (to !== from && !EVERYONE.includes(to) && !allowed.includes(to)) bad.push(`${m.path} imports ${t} (${from}/ -> ${to})`);
    }
  }
  assert.deepEqual(bad, []);
});

test('sigstore/ never imports rekor/ (the client does not run server-side entry code)', () => {
  const bad = [...modules.values()].filter((m) => layerOf(m.path) === 'sigstore').flatMap((m) => m.relative.filter((t) => layerOf(t) === 'rekor').map((t) => `${m.path} -> ${t}`));
  assert.deepEqual(bad, []);
});

test('tlog/ and rekor/ do no I/O: no file, network or process modules, no fsutil', () => {
  const bad: string[] = [];
  for (const m of modules.values()) {
    if (!PURE_LAYERS.includes(layerOf(m.path))) continue;
    for (const e of m.external) if (IO_MODULES.test(e)) bad.push(`${m.path} imports ${e}`);
    for (const t of m.relative) if (layerOf(t) === 'fsutil') bad.push(`${m.path} imports ${t}`);
  }
  assert.deepEqual(bad, []);
});
