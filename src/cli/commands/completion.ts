import { Command } from 'commander';
import { SignetError } from '../../errors.js';
import { examples, ui } from '../common.js';
import { SHELLS, type Shell, completionScript } from '../completion.js';

/** `registerAll` registers every command on a program (commands/index.ts). */
export function registerCompletion(program: Command, registerAll: (program: Command) => Promise<void>): void {
  const cmd = program
    .command('completion')
    .description('print a shell completion script for signet (bash, zsh or fish)')
    .argument('<shell>', `the shell: ${SHELLS.join(', ')}`)
    .action(async (shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) {
        throw new SignetError('USAGE', `signet completion knows ${SHELLS.join(', ')}, not "${shell}"`);
      }
      // Only this command's module is loaded to run it: the script needs all of them.
      const all = new Command('signet');
      await registerAll(all);
      ui.out(completionScript(shell as Shell, all, program.options));
    });
  examples(cmd, [
    'source <(signet completion bash)',
    'signet completion bash > ~/.local/share/bash-completion/completions/signet',
    'signet completion zsh > ~/.zsh-signet   # then: source ~/.zsh-signet in ~/.zshrc, after compinit',
    'signet completion fish > ~/.config/fish/completions/signet.fish',
  ]);
}
