/** Build the one registry client a command shares across all its images, from the REG flag group. */
import { RegistryClient } from '../oci/index.js';
import { SignetError } from '../errors.js';
import type { RegistryFlags } from './common.js';

export function registryClient(flags: RegistryFlags): RegistryClient {
  const mode = flags.registryReferrersMode ?? 'legacy';
  if (mode !== 'legacy' && mode !== 'oci-1-1') throw new SignetError('USAGE', `--registry-referrers-mode "${mode}" is not legacy or oci-1-1`);
  return new RegistryClient({
    referrersMode: mode,
    insecure: flags.allowInsecureRegistry,
    allowHttp: flags.allowHttpRegistry,
    username: flags.registryUsername,
    password: flags.registryPassword,
    token: flags.registryToken,
    caCertFile: flags.registryCacert,
    clientCertFile: flags.registryClientCert,
    clientKeyFile: flags.registryClientKey,
    serverName: flags.registryServerName,
  });
}
