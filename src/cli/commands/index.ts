import type { Command } from 'commander';
import { registerAttachmentCommands } from './attachments.js';
import { registerImageCommands } from './image.js';
import { registerKeyCommands } from './keys.js';
import { registerVersion } from './version.js';

/** Every command module registers itself here. */
export function registerAll(program: Command): void {
  registerImageCommands(program);
  registerAttachmentCommands(program);
  registerKeyCommands(program);
  registerVersion(program);
}
