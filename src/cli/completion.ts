/**
 * Shell completion scripts (`signet completion bash|zsh|fish`), generated from the CLI's own command tree,
 * so they name exactly the commands and flags this build has. Each script completes: subcommands where a
 * command has them, the flags of the command typed so far (and the global ones) after a `-`, the choices
 * of a flag that has a fixed set, and file names everywhere else.
 */
import type { Command, Option } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** One command of the tree: its words from the root ('' for the root), subcommands and flags. */
interface Node {
  path: string;
  commands: string[];
  flags: string[];
  /** Flag (long or short) → its choices, for flags that take one of a fixed set. */
  choices: Map<string, string[]>;
  description: string;
}

function flagsOf(options: readonly Option[]): { flags: string[]; choices: Map<string, string[]> } {
  const flags: string[] = [];
  const choices = new Map<string, string[]>();
  for (const o of options) {
    if (o.hidden) continue;
    for (const f of [o.long, o.short]) {
      if (!f) continue;
      flags.push(f);
      if (o.argChoices) choices.set(f, o.argChoices);
    }
  }
  return { flags, choices };
}

/** The visible commands under `root` (depth first), with the root's own flags added to every command's. */
function nodes(root: Command, globals: readonly Option[]): Node[] {
  const g = flagsOf(globals);
  const out: Node[] = [];
  const walk = (cmd: Command, path: string): void => {
    const visible = cmd.commands.filter((c) => !(c as unknown as { _hidden: boolean })._hidden);
    const own = flagsOf(cmd.options);
    out.push({
      path,
      commands: visible.map((c) => c.name()),
      flags: [...new Set([...own.flags, ...g.flags, '--help'])],
      choices: new Map([...g.choices, ...own.choices]),
      description: cmd.description(),
    });
    for (const c of visible) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(root, '');
  return out;
}

/** Words only (command and flag names, choices): nothing that needs quoting in a shell script. */
function checkWord(w: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:/@+=-]*$|^--?[A-Za-z0-9][A-Za-z0-9._-]*$/.test(w)) throw new Error(`completion: "${w}" is not a plain word`);
  return w;
}

const words = (ws: readonly string[]): string => ws.map(checkWord).join(' ');
const pathWords = (path: string): string => (path === '' ? '' : words(path.split(' ')));

function bashFunctions(tree: Node[]): string {
  const cases = (f: (n: Node) => string): string =>
    tree
      .map((n) => [n, f(n)] as const)
      .filter(([, v]) => v !== '')
      .map(([n, v]) => `    "${pathWords(n.path)}") echo "${v}" ;;`)
      .join('\n');
  const choiceCases = tree
    .flatMap((n) => [...n.choices].map(([flag, cs]) => `    "${pathWords(n.path)}|${checkWord(flag)}") echo "${words(cs)}" ;;`))
    .join('\n');
  return `# The path of the command being completed (its words from the root, space-separated), then its
# subcommands, flags and one flag's choices.
_signet_commands() {
  case "$1" in
${cases((n) => words(n.commands))}
  esac
}
_signet_flags() {
  case "$1" in
${cases((n) => words(n.flags))}
  esac
}
_signet_choices() {
  case "$1|$2" in
${choiceCases}
  esac
}
_signet() {
  # zsh (through bashcompinit) counts array elements from 1 unless told otherwise.
  if [ -n "\${ZSH_VERSION-}" ]; then setopt localoptions ksharrays; fi
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" path="" w i subs choices
  [ "$COMP_CWORD" -gt 0 ] && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    case " $(_signet_commands "$path") " in *" $w "*) path="\${path:+$path }$w" ;; esac
  done
  choices="$(_signet_choices "$path" "$prev")"
  if [ -n "$choices" ]; then
    COMPREPLY=($(compgen -W "$choices" -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_signet_flags "$path")" -- "$cur"))
  else
    subs="$(_signet_commands "$path")"
    if [ -n "$subs" ]; then
      COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    else
      COMPREPLY=($(compgen -f -- "$cur"))
    fi
  fi
}
`;
}

function bash(tree: Node[]): string {
  return `# bash completion for signet. Load it in this shell:  source <(signet completion bash)
# or for every new one:  signet completion bash > ~/.local/share/bash-completion/completions/signet
${bashFunctions(tree)}complete -o default -F _signet signet
`;
}

function zsh(tree: Node[]): string {
  // Sourced, not autoloaded from $fpath: the script defines the bash-style function and registers it itself.
  return `# zsh completion for signet. Load it in this shell:  source <(signet completion zsh)
# or for every new one:  signet completion zsh > ~/.zsh-signet, and source ~/.zsh-signet in ~/.zshrc after compinit
autoload -U +X bashcompinit && bashcompinit
${bashFunctions(tree)}complete -o default -F _signet signet
`;
}

function fish(tree: Node[]): string {
  const lines = [
    '# fish completion for signet. Load it in this shell:  signet completion fish | source',
    '# or for every new one:  signet completion fish > ~/.config/fish/completions/signet.fish',
    'function __signet_at',
    '    test "$(__signet_path)" = "$argv[1]"',
    'end',
    '# The path of subcommands on the command line so far, to pick what to offer.',
    'function __signet_path',
    '    set -l tokens (commandline -opc)',
    '    set -l path',
    '    for t in $tokens[2..-1]',
    "        if not string match -q -- '-*' $t",
    '            if contains -- $t (__signet_commands (string join " " $path))',
    '                set path $path $t',
    '            end',
    '        end',
    '    end',
    '    string join " " $path',
    'end',
    'function __signet_commands',
    '    switch "$argv[1]"',
    ...tree.filter((n) => n.commands.length > 0).flatMap((n) => [`        case '${pathWords(n.path)}'`, `            string split ' ' -- '${words(n.commands)}'`]),
    '    end',
    'end',
    'complete -c signet -f',
  ];
  for (const n of tree) {
    const at = `-n '__signet_at "${pathWords(n.path)}"'`;
    for (const c of n.commands) {
      const sub = tree.find((x) => x.path === (n.path ? `${n.path} ${c}` : c));
      lines.push(`complete -c signet ${at} -a ${checkWord(c)} -d ${fishQuote(sub?.description ?? '')}`);
    }
    const longs = n.flags.filter((f) => f.startsWith('--'));
    const shorts = n.flags.filter((f) => /^-[^-]$/.test(f));
    for (const f of longs) {
      const cs = n.choices.get(f);
      lines.push(`complete -c signet ${at} -l ${checkWord(f.slice(2))}${cs ? ` -x -a '${words(cs)}'` : ''}`);
    }
    for (const f of shorts) lines.push(`complete -c signet ${at} -s ${checkWord(f.slice(1))}`);
    // A command without subcommands takes file names as its arguments.
    if (n.commands.length === 0) lines.push(`complete -c signet ${at} -F`);
  }
  return lines.join('\n') + '\n';
}

function fishQuote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The completion script for `shell`, of the commands under `program` and its global flags. */
export function completionScript(shell: Shell, program: Command, globals: readonly Option[] = program.options): string {
  const tree = nodes(program, globals);
  return shell === 'bash' ? bash(tree) : shell === 'zsh' ? zsh(tree) : fish(tree);
}
