import { Command } from 'commander';
import { boolOpt, examples, ui } from '../common.js';
import { envListing, flagVars } from '../env-vars.js';

/** `registerAll` registers every command on a program (commands/index.ts). */
export function registerEnv(program: Command, registerAll: (program: Command) => Promise<void>): void {
  const cmd = program
    .command('env')
    .description("print the environment variables Signet reads, with their values (secrets masked) and what they do")
    .addOption(boolOpt('--show-descriptions', 'print what each variable does and expects', true))
    .addOption(boolOpt('--show-sensitive-values', 'print the values of secrets (passwords, tokens, PINs) instead of ******'))
    .addOption(boolOpt('--all-flags', "list every flag's variable (COSIGN_<FLAG>, SIGNET_…), not only those that are set"))
    .action(async (opts: { showDescriptions: boolean; showSensitiveValues: boolean; allFlags: boolean }) => {
      // Only this command's module is loaded to run it: the flag variables come from all of them.
      const all = new Command('signet');
      for (const o of program.options) all.addOption(o);
      await registerAll(all);
      ui.out(envListing(process.env, flagVars(all), { descriptions: opts.showDescriptions, sensitive: opts.showSensitiveValues, allFlags: opts.allFlags }));
    });
  examples(cmd, ['signet env', 'signet env --show-descriptions=false', 'signet env --all-flags | grep REGISTRY']);
}
