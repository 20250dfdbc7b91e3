import type { Command } from 'commander';
import { providerStatus } from '../../sigstore/identity-token.js';
import { examples, ui } from '../common.js';

export function registerDebug(program: Command): void {
  const debug = program
    .command('debug')
    .description('show what Signet finds on this machine (as cosign debug)')
    .action(() => debug.help());
  const providers = debug
    .command('providers')
    .description('show which ambient OIDC providers could give a keyless identity token here, in the order they are asked, and why the others cannot')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const status = await providerStatus();
      ui.out(
        opts.json
          ? JSON.stringify(status, null, 2) + '\n'
          : status.map((p) => `${p.name}: ${p.enabled}${p.reason ? ` — ${p.reason}` : ''}\n`).join(''),
      );
    });
  examples(providers, ['signet debug providers', 'SIGSTORE_ID_TOKEN=$(cat token.jwt) signet debug providers --json']);
  examples(debug, ['signet debug providers']);
}
