/**
 * Installing a Debian package the tests (or the demo) need, as root. A fresh machine may have no package
 * lists yet, so a failed install is retried once after `apt-get update`.
 */
import { execFileSync } from 'node:child_process';

export function aptInstall(pkg: string): void {
  if (process.getuid?.() !== 0) throw new Error(`the Debian package ${pkg} is missing: install it (apt-get install ${pkg})`);
  const run = (args: string[]): void => {
    execFileSync('apt-get', args, { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  try {
    run(['install', '-y', pkg]);
  } catch {
    run(['update']);
    run(['install', '-y', pkg]);
  }
}
