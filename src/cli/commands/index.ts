import type { Command } from 'commander';
import { registerAttachmentCommands } from './attachments.js';
import { registerBlobCommands } from './blob.js';
import { registerDevCommands } from './dev.js';
import { registerImageCommands } from './image.js';
import { registerKeyCommands } from './keys.js';
import { registerLogin } from './login.js';
import { registerLogCommands } from './log.js';
import { registerServe } from './serve.js';
import { registerTrustCommands } from './trust.js';
import { registerVersion } from './version.js';

/** Every command module registers itself here. */
export function registerAll(program: Command): void {
  registerImageCommands(program);
  registerAttachmentCommands(program);
  registerBlobCommands(program);
  registerKeyCommands(program);
  registerLogin(program);
  registerLogCommands(program);
  registerServe(program);
  registerTrustCommands(program);
  registerVersion(program);
  registerDevCommands(program);
}
