/** Build the one registry client a command shares across all its images, from the REG flag group. */
import { RegistryClient } from '../oci/index.js';
import type { RegistryFlags } from './common.js';

export function registryClient(flags: RegistryFlags): RegistryClient {
  return new RegistryClient({
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
