/**
 * `signet pkcs11-tool list-tokens | list-keys-uris`: what cosign's pkcs11-tool prints about the tokens of
 * a PKCS#11 module and the URIs of the keys in one of them (`-o json` for machines).
 */
import { Option, type Command } from 'commander';
import { SignetError } from '../../errors.js';
import { listKeyUris, listTokens } from '../../keys/index.js';
import { examples, opt, ui } from '../common.js';

interface ToolFlags {
  modulePath?: string;
  slotId?: string;
  pin?: string;
  output: string;
}

function modulePath(flags: ToolFlags): string {
  const m = flags.modulePath;
  if (!m) throw new SignetError('USAGE', 'pkcs11-tool needs --module-path (or COSIGN_PKCS11_MODULE_PATH): the absolute path of the PKCS#11 module');
  if (!m.startsWith('/')) throw new SignetError('USAGE', `--module-path ${m} is not an absolute path`);
  return m;
}

function checkOutput(flags: ToolFlags): void {
  if (flags.output !== 'json' && flags.output !== 'text') throw new SignetError('USAGE', `unknown output format "${flags.output}" (json or text)`);
}

export async function listTokensAction(flags: ToolFlags): Promise<void> {
  checkOutput(flags);
  const path = modulePath(flags);
  const tokens = await listTokens(path);
  if (flags.output === 'json') {
    ui.out(JSON.stringify({ modulePath: path, tokens }, null, 2) + '\n');
    return;
  }
  let text = `\nListing tokens of PKCS11 module '${path}'\n`;
  for (const t of tokens) {
    text += `Token in slot ${t.slot}\n\tLabel: ${t.label}\n\tManufacturer: ${t.manufacturer}\n\tModel: ${t.model}\n\tS/N: ${t.serial}\n\n`;
  }
  ui.out(text);
}

export async function listKeysUrisAction(flags: ToolFlags): Promise<void> {
  checkOutput(flags);
  const path = modulePath(flags);
  const slotText = flags.slotId ?? '0';
  if (!/^[0-9]+$/.test(slotText) || !Number.isSafeInteger(Number(slotText))) throw new SignetError('USAGE', `--slot-id "${slotText}" is not a number`);
  const slot = Number(slotText);
  const { keys } = await listKeyUris(path, slot, flags.pin || undefined);
  if (flags.output === 'json') {
    const out = keys.map((k) => ({ ...(k.label ? { label: k.label } : {}), ...(k.id ? { id: k.id.toString('hex') } : {}), uri: k.uri }));
    ui.out(JSON.stringify({ modulePath: path, slotId: slot, keys: out }, null, 2) + '\n');
    return;
  }
  let text = `\nListing URIs of keys in slot '${slot}' of PKCS11 module '${path}'\n`;
  keys.forEach((k, i) => {
    text += `Object ${i}\n`;
    if (k.label) text += `\tLabel: ${k.label}\n`;
    if (k.id) text += `\tID: ${k.id.toString('hex')}\n`;
    text += `\tURI: ${k.uri}\n`;
  });
  ui.out(text);
}

export function registerPkcs11Tool(program: Command): void {
  const tool = program.command('pkcs11-tool').description('list the tokens of a PKCS#11 module and the URIs of the keys in them');
  const moduleOpt = (): Option =>
    new Option('--module-path <path>', 'absolute path of the PKCS#11 module').env('COSIGN_PKCS11_MODULE_PATH');
  const output = (): Option => opt('-o, --output <format>', 'output format: text (as cosign) or json', 'text');

  const tokens = tool
    .command('list-tokens')
    .description('list the tokens of a PKCS#11 module')
    .addOption(moduleOpt())
    .addOption(output())
    .action((flags: ToolFlags) => listTokensAction(flags));
  examples(tokens, [
    'signet pkcs11-tool list-tokens --module-path /usr/lib/softhsm/libsofthsm2.so',
    'COSIGN_PKCS11_MODULE_PATH=/usr/lib/softhsm/libsofthsm2.so signet pkcs11-tool list-tokens -o json',
  ]);

  const keys = tool
    .command('list-keys-uris')
    .description('list the PKCS#11 URIs of the keys in a token (use them as --key)')
    .addOption(moduleOpt())
    .addOption(new Option('--slot-id <n>', 'id of the PKCS#11 slot').default('0'))
    .addOption(new Option('--pin <pin>', 'PIN of the token (else COSIGN_PKCS11_PIN, else asked for when the token needs one)'))
    .addOption(output())
    .action((flags: ToolFlags) => listKeysUrisAction(flags));
  examples(keys, [
    'signet pkcs11-tool list-keys-uris --module-path /usr/lib/softhsm/libsofthsm2.so --slot-id 1234 --pin 1234',
    'COSIGN_PKCS11_PIN=1234 signet pkcs11-tool list-keys-uris --module-path /usr/lib/softhsm/libsofthsm2.so --slot-id 1234 -o json',
  ]);
}
