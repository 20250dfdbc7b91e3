/** Puts the test KMS plug-in (kms-plugin-program.ts) on a PATH directory as `sigstore-kms-NAME`. */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KMS_PLUGIN_PROGRAM = fileURLToPath(new URL('./kms-plugin-program.js', import.meta.url));

/** Writes `dir/sigstore-kms-NAME` (a shell wrapper running the program on this Node) and returns `dir`. */
export function installKmsPlugin(dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  const exe = join(dir, `sigstore-kms-${name}`);
  writeFileSync(exe, `#!/bin/sh\nexec '${process.execPath}' '${KMS_PLUGIN_PROGRAM}' "$@"\n`);
  chmodSync(exe, 0o755);
  return dir;
}
