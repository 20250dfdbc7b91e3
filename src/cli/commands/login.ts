/** `signet login`: store registry credentials in the Docker config, where every Docker-compatible tool finds them. */
import type { Command } from 'commander';
import { SignetError } from '../../errors.js';
import { DOCKER_HUB, loginToDockerConfig } from '../../oci/index.js';
import { examples, ui } from '../common.js';

interface LoginFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerLogin(program: Command): void {
  const cmd = program
    .command('login')
    .description('log in to a registry: store the credentials in the Docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json)')
    .argument('[server]', 'registry host, e.g. registry.example:5000 (default: Docker Hub)')
    .option('-u, --username <user>', 'username')
    .option('-p, --password <password>', 'password (visible in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (server: string | undefined, flags: LoginFlags) => {
      if (!flags.username) throw new SignetError('USAGE', 'login needs a username: pass -u USER');
      if (flags.password !== undefined && flags.passwordStdin) throw new SignetError('USAGE', '--password and --password-stdin cannot be used together');
      let password = flags.password;
      if (flags.passwordStdin) {
        // Like docker login: one trailing newline (from echo or a file) is not part of the password.
        password = (await readAllStdin()).replace(/\r?\n$/, '');
      }
      if (!password) throw new SignetError('USAGE', 'login needs a password: pass -p PASSWORD or --password-stdin');
      const target = server ?? DOCKER_HUB;
      const path = await loginToDockerConfig(target, flags.username, password);
      ui.info(`logged in to ${target}: credentials stored in ${path}`);
    });
  examples(cmd, ['echo "$TOKEN" | signet login registry.example -u ci --password-stdin', 'signet login localhost:5000 -u admin -p secret']);
}
