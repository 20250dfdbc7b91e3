/**
 * The environment variables Signet reads (`signet env`, as `cosign env`): those that are not a flag's,
 * listed here with what they do, and every flag's own variable (COSIGN_<FLAG>, or SIGNET_<…> for Signet's
 * commands), taken from the command tree. test/cli/env.test.ts checks that every variable the code reads
 * is one of the two.
 */
import type { Command } from 'commander';

export interface EnvVar {
  name: string;
  description: string;
  expects: string;
  /** Its value is a secret: shown only with --show-sensitive-values. */
  sensitive?: boolean;
}

const GITHUB_PROVENANCE = 'read for the SLSA provenance that attest --type slsaprovenance1 writes in GitHub Actions';

export const ENV_VARS: readonly EnvVar[] = [
  { name: 'COSIGN_PASSWORD', description: 'is the password of an encrypted private key, instead of asking on the terminal', expects: 'the password', sensitive: true },
  { name: 'COSIGN_REPOSITORY', description: 'is where signatures and attestations are stored and looked for, instead of beside the image', expects: 'a repository, e.g. registry.example.com/signatures' },
  { name: 'COSIGN_DOCKER_MEDIA_TYPES', description: 'writes Docker media types instead of OCI ones, for registries that take only those', expects: '1 or true (off by default)' },
  { name: 'COSIGN_PKCS11_PIN', description: 'is the PIN of a PKCS#11 token, when the key URI has no pin-value', expects: 'the PIN', sensitive: true },
  { name: 'COSIGN_PKCS11_MODULE_PATH', description: "is the PKCS#11 module for pkcs11: key URIs without module-path, and pkcs11-tool's --module-path", expects: 'the absolute path of a module (.so)' },
  { name: 'SIGSTORE_ID_TOKEN', description: 'is the OIDC identity token for keyless signing, before any other provider is asked', expects: 'a JWT', sensitive: true },
  { name: 'ACTIONS_ID_TOKEN_REQUEST_URL', description: "is GitHub Actions' URL for an OIDC token (keyless signing in a workflow with id-token: write)", expects: 'a URL (set by GitHub Actions)' },
  { name: 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', description: "is GitHub Actions' bearer token for that request", expects: 'a token (set by GitHub Actions)', sensitive: true },
  { name: 'BUILDKITE_AGENT_ACCESS_TOKEN', description: 'marks a Buildkite job, whose buildkite-agent is asked for an OIDC token', expects: 'a token (set by Buildkite)', sensitive: true },
  { name: 'TUF_ROOT', description: "is the TUF cache directory (cosign's)", expects: 'a directory (~/.sigstore/root by default)' },
  { name: 'TUF_MIRROR', description: 'is the TUF repository to refresh the trusted root from, instead of the one the cache records', expects: 'a URL' },
  { name: 'TUF_ROOT_JSON', description: "is the TUF root.json to start from when the cache is empty (with TUF_MIRROR)", expects: 'a path to root.json' },
  { name: 'DOCKER_CONFIG', description: 'is the directory of the Docker config.json with registry credentials', expects: 'a directory (~/.docker by default)' },
  { name: 'NODE_USE_ENV_PROXY', description: 'makes registry, TUF and service requests go through HTTP_PROXY / HTTPS_PROXY (minus NO_PROXY), as Node.js does', expects: '1 (or node --use-env-proxy)' },
  { name: 'HTTP_PROXY', description: 'is the proxy for http:// requests, with NODE_USE_ENV_PROXY', expects: 'a URL' },
  { name: 'HTTPS_PROXY', description: 'is the proxy for https:// requests, with NODE_USE_ENV_PROXY', expects: 'a URL' },
  { name: 'SIGNET_HOME', description: 'is where log monitor keeps the last checkpoint it verified of each log', expects: 'a directory (~/.signet by default)' },
  { name: 'SIGNET_DEBUG', description: "adds an error's stack trace to its one-line message", expects: '1 (off by default)' },
  { name: 'SIGNET_NATIVE', description: "turns the native crypto addon off (the slower pure-JavaScript routes are used)", expects: '0 (on by default)' },
  { name: 'GITHUB_ACTIONS', description: GITHUB_PROVENANCE, expects: 'true (set by GitHub Actions)' },
  ...['GITHUB_SERVER_URL', 'GITHUB_REPOSITORY', 'GITHUB_REPOSITORY_ID', 'GITHUB_REPOSITORY_OWNER_ID', 'GITHUB_WORKFLOW_REF', 'GITHUB_EVENT_NAME', 'GITHUB_REF', 'GITHUB_SHA', 'GITHUB_RUN_ID', 'GITHUB_RUN_ATTEMPT', 'RUNNER_ENVIRONMENT'].map(
    (name) => ({ name, description: GITHUB_PROVENANCE, expects: 'set by GitHub Actions' }),
  ),
];

/** A flag's variable: the flags it sets and in which commands. */
export interface FlagVar {
  name: string;
  flags: string[];
  commands: string[];
  description: string;
}

/** Every option's variable in the tree under `program` (and its own options'), by name. */
export function flagVars(program: Command): Map<string, FlagVar> {
  const out = new Map<string, FlagVar>();
  const walk = (cmd: Command, path: string): void => {
    for (const o of cmd.options) {
      if (!o.envVar) continue;
      const v = out.get(o.envVar) ?? { name: o.envVar, flags: [], commands: [], description: o.description };
      // One variable, one flag name, but each command words the flag for itself (a private key for sign, a
      // public one for verify): then only its --help can say.
      if (v.description !== o.description) v.description = "its meaning depends on the command: see the command's --help";
      const flag = o.long ?? o.short ?? o.flags;
      if (!v.flags.includes(flag)) v.flags.push(flag);
      if (path && !v.commands.includes(path)) v.commands.push(path);
      out.set(o.envVar, v);
    }
    for (const c of cmd.commands) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
  return out;
}

/** A variable whose name says it holds a secret (a password, a token, a PIN; not a file that holds one). */
export function looksSensitive(name: string): boolean {
  return /(PASSWORD|TOKEN|SECRET|PIN|CREDENTIALS?)$/.test(name);
}

/** Prefixes of variables that may change what Signet does though no code here names them. */
const WATCHED_PREFIXES = ['COSIGN_', 'SIGSTORE_', 'TUF_', 'SIGNET_'];

export interface EnvListingOptions {
  descriptions: boolean;
  sensitive: boolean;
  /** Every flag's variable, set or not. */
  allFlags: boolean;
}

/** `signet env`'s output for the environment `env`. */
export function envListing(env: NodeJS.ProcessEnv, flags: Map<string, FlagVar>, o: EnvListingOptions): string {
  const lines: string[] = [];
  const show = (name: string, sensitive: boolean): void => {
    const value = env[name] ?? '';
    lines.push(sensitive && !o.sensitive && value !== '' ? `${name}="******"` : `${name}=${JSON.stringify(value)}`);
  };
  const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : 1);
  const registered = new Set(ENV_VARS.map((v) => v.name));
  for (const v of [...ENV_VARS].sort(byName)) {
    if (o.descriptions) lines.push(`# ${v.name} ${v.description}`, `# Expects: ${v.expects}`);
    show(v.name, v.sensitive === true);
  }
  const flagList = [...flags.values()].filter((f) => !registered.has(f.name) && (o.allFlags || env[f.name] !== undefined)).sort(byName);
  if (flagList.length > 0 && o.descriptions) {
    lines.push(`# Flag variables${o.allFlags ? '' : ' that are set'}: each sets its flag wherever the flag is not given on the command line.`);
  }
  for (const f of flagList) {
    if (o.descriptions) {
      const where = f.commands.length === 0 ? 'every command' : f.commands.length > 4 ? `${f.commands.slice(0, 4).join(', ')} and ${f.commands.length - 4} more` : f.commands.join(', ');
      lines.push(`# ${f.name} sets ${f.flags.join(', ')} (${where}): ${f.description}`);
    }
    show(f.name, looksSensitive(f.name));
  }
  const others = Object.keys(env)
    .filter((k) => WATCHED_PREFIXES.some((p) => k.startsWith(p)) && !registered.has(k) && !flags.has(k))
    .sort();
  if (others.length > 0 && o.descriptions) lines.push('# Set, and not read by Signet, but named like variables that are:');
  for (const k of others) show(k, looksSensitive(k));
  return lines.join('\n') + '\n';
}
