/**
 * Signet uses APIs of Node.js 22 and later (node:sqlite, KeyObject.toCryptoKey). An older `node` would
 * start and then fail deep inside a command with an error that names neither Node.js nor its version
 * (`serve` on Node 20: "key.toCryptoKey is not a function"), so the CLI refuses it first.
 */
export const MIN_NODE_MAJOR = 22;

/** Why `version` (a process.versions.node) cannot run Signet, or undefined when it can. */
export function nodeTooOld(version: string): string | undefined {
  const major = Number(/^(\d+)\./.exec(version)?.[1]);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return `Signet needs Node.js ${MIN_NODE_MAJOR} or later, and this is Node.js ${version}: run it as bin/signet (or through npm scripts), which use the Node.js 24 that npm ci installs, or put a newer node first on PATH`;
}
