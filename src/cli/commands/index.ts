import type { Command } from 'commander';
import { registerVersion } from './version.js';

/** Every command module registers itself here. */
export function registerAll(program: Command): void {
  registerVersion(program);
}
