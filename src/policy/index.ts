/**
 * `--policy FILE`: the file's extension selects the language, as cosign does (`.cue`, `.rego`; `.cel` is
 * Signet's own). Each policy is read (at most 1 MiB), compiled and checked once; a malformed one is an
 * error here, never a pass later. Each language's module (and its library) is loaded only when a policy
 * in that language is, so commands that take `--policy` start no slower without one.
 */
import { extname } from 'node:path';
import { SignetError } from '../errors.js';
import { FILE_LIMITS, readFileLimited } from '../fsutil.js';
import type { AttestationPolicy, PolicyLanguage } from './types.js';

export type { AttestationPolicy, PolicyLanguage, PolicyVerdict } from './types.js';

const LANGUAGES: Record<string, PolicyLanguage> = { '.cue': 'cue', '.rego': 'rego', '.cel': 'cel' };

/** The language of a policy file, from its extension; a USAGE error for any other. */
export function policyLanguage(path: string): PolicyLanguage {
  const lang = LANGUAGES[extname(path).toLowerCase()];
  if (!lang) throw new SignetError('USAGE', `policy ${path}: unknown policy format, expected a .cue, .rego or .cel file`);
  return lang;
}

/** Read, compile and check one policy file. */
export async function loadPolicy(path: string): Promise<AttestationPolicy> {
  const language = policyLanguage(path);
  const bytes = await readFileLimited(path, FILE_LIMITS.small, `policy ${path}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SignetError('MALFORMED', `policy ${path}: not UTF-8 text`);
  }
  switch (language) {
    case 'cue':
      return (await import('./cue.js')).loadCuePolicy(path, text);
    case 'rego':
      return (await import('./rego.js')).loadRegoPolicy(path, text);
    case 'cel':
      return (await import('./cel.js')).loadCelPolicy(path, text);
  }
}

/** Every `--policy` file, in order; the extensions are checked before any file is read. */
export async function loadPolicies(paths: readonly string[]): Promise<AttestationPolicy[]> {
  for (const p of paths) policyLanguage(p);
  const out: AttestationPolicy[] = [];
  for (const p of paths) out.push(await loadPolicy(p));
  return out;
}
