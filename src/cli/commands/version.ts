import type { Command } from 'commander';
import { VERSION } from '../../version.js';
import { examples, ui } from '../common.js';

export function registerVersion(program: Command): void {
  const cmd = program
    .command('version')
    .description('print the version of Signet')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const info = { gitVersion: VERSION, goVersion: `node ${process.version}`, platform: `${process.platform}/${process.arch}` };
      ui.out(opts.json ? JSON.stringify(info, null, 2) + '\n' : `signet ${VERSION} (node ${process.version}, ${info.platform})\n`);
    });
  examples(cmd, ['signet version', 'signet version --json']);
}
