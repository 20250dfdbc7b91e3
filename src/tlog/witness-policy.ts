/**
 * Witness policies: which witnesses must have cosigned a checkpoint before a client trusts it. The file
 * format is Sigsum's policy format (sigsum-go doc/policy.md), with C2SP verifier keys for witnesses:
 *
 *   witness NAME KEY [URL]        KEY: a cosignature/v1 vkey (`name+id+base64`), or 64 hex digits of an
 *                                 Ed25519 key whose cosignatures are signed under the key name NAME
 *   group NAME any|all|K MEMBER…  K of the members (witnesses or earlier groups)
 *   quorum NAME|none              the witness or group that must be satisfied
 *   log KEY [URL]                 accepted and ignored: log keys come from the trusted root
 *
 * Blank lines and `#` comments are ignored. Names are local to the file; `none` is predefined.
 */
import { SignetError } from '../errors.js';
import { type Cosigner, ed25519FromRaw, parseVkey, verifyCosignatures } from './cosignature.js';

type Rule = { kind: 'witness'; cosigner: Cosigner } | { kind: 'group'; need: number; members: string[] };

export interface WitnessPolicy {
  /** Every witness the policy names, with the key name its cosignature lines carry. */
  cosigners: Cosigner[];
  /** The quorum's name, or undefined for `quorum none`. */
  quorum: string | undefined;
  rules: Map<string, Rule>;
}

export function parseWitnessPolicy(text: string, source = 'witness policy'): WitnessPolicy {
  const rules = new Map<string, Rule>();
  const cosigners: Cosigner[] = [];
  const localToKeyName = new Map<string, string>();
  let quorum: string | undefined | null = null;
  text.split('\n').forEach((raw, i) => {
    const bad = (why: string): never => {
      throw new SignetError('USAGE', `${source} line ${i + 1}: ${why}`);
    };
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const [keyword, ...args] = line.split(/\s+/);
    const defineName = (name: string | undefined): string => {
      if (!name) return bad(`${keyword} needs a name`);
      if (name === 'none') bad('"none" is predefined');
      if (rules.has(name)) bad(`${JSON.stringify(name)} is defined twice`);
      return name;
    };
    switch (keyword) {
      case 'log':
        if (args.length < 1 || args.length > 2) bad('expected: log KEY [URL]');
        return;
      case 'witness': {
        if (args.length < 2 || args.length > 3) bad('expected: witness NAME KEY [URL]');
        const name = defineName(args[0]);
        const key = args[1]!;
        let cosigner: Cosigner;
        if (/^[0-9a-fA-F]{64}$/.test(key)) {
          cosigner = { name, publicKey: ed25519FromRaw(Buffer.from(key, 'hex')) };
        } else {
          let v: ReturnType<typeof parseVkey>;
          try {
            v = parseVkey(key);
          } catch (e) {
            return bad((e as Error).message);
          }
          if (v.type !== 0x04) bad(`the key of witness ${name} is not a cosignature/v1 key (type 0x04)`);
          cosigner = { name: v.name, publicKey: ed25519FromRaw(v.key) };
        }
        rules.set(name, { kind: 'witness', cosigner });
        localToKeyName.set(name, cosigner.name);
        cosigners.push(cosigner);
        return;
      }
      case 'group': {
        if (args.length < 3) bad('expected: group NAME any|all|K MEMBER...');
        const name = defineName(args[0]);
        const members = args.slice(2);
        for (const m of members) if (!rules.has(m)) bad(`group ${name}: ${JSON.stringify(m)} is not defined above`);
        if (new Set(members).size !== members.length) bad(`group ${name} lists a member twice`);
        const k = args[1]!;
        const need = k === 'any' ? 1 : k === 'all' ? members.length : /^[1-9][0-9]*$/.test(k) ? Number(k) : bad(`group ${name}: "${k}" is not any, all or a number`);
        if (need > members.length) bad(`group ${name} needs ${need} of only ${members.length} members`);
        rules.set(name, { kind: 'group', need, members });
        return;
      }
      case 'quorum':
        if (args.length !== 1) bad('expected: quorum NAME');
        if (quorum !== null) bad('quorum is set twice');
        if (args[0] !== 'none' && !rules.has(args[0]!)) bad(`quorum ${JSON.stringify(args[0])} is not defined above`);
        quorum = args[0] === 'none' ? undefined : args[0]!;
        return;
      default:
        bad(`unknown keyword ${JSON.stringify(keyword)} (log, witness, group, quorum)`);
    }
  });
  if (quorum === null) throw new SignetError('USAGE', `${source}: no quorum line`);
  return { cosigners, quorum, rules };
}

/** Which witnesses (their local names) the cosignatures on `note` satisfy, and whether the quorum holds. */
export function checkWitnessPolicy(note: string, policy: WitnessPolicy): { ok: boolean; cosignedBy: string[] } {
  const verified = new Set(verifyCosignatures(note, policy.cosigners).map((c) => c.name));
  const cosignedBy: string[] = [];
  const memo = new Map<string, boolean>();
  const holds = (name: string): boolean => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const r = policy.rules.get(name)!;
    const ok = r.kind === 'witness' ? verified.has(r.cosigner.name) : r.members.filter(holds).length >= r.need;
    if (r.kind === 'witness' && ok) cosignedBy.push(name);
    memo.set(name, ok);
    return ok;
  };
  for (const [name, r] of policy.rules) if (r.kind === 'witness') holds(name);
  return { ok: policy.quorum === undefined || holds(policy.quorum), cosignedBy };
}
