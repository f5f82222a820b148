/**
 * Shell completion scripts for bash, zsh and fish, written from the program's own command tree: commands,
 * subcommands, options and the values of options and arguments that take a fixed set (e.g. `-o`).
 * The scripts track the command path typed so far, skipping options and their values.
 */
import type { Command } from 'commander';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface OptionSpec {
  readonly flags: readonly string[];
  readonly description: string;
  readonly takesValue: boolean;
  readonly choices?: readonly string[];
  /** A file path (completed as files). */
  readonly file: boolean;
}

interface CommandSpec {
  /** Names from the program down, space-separated; '' for the program. */
  readonly path: string;
  readonly description: string;
  readonly subcommands: readonly { readonly name: string; readonly description: string }[];
  readonly options: readonly OptionSpec[];
  /** Values of a positional argument with a fixed set (export <operation>, completion <shell>). */
  readonly argumentChoices: readonly string[];
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Every command of the tree, the program first. */
export function completionSpecs(program: Command): CommandSpec[] {
  const specs: CommandSpec[] = [];
  const visit = (cmd: Command, path: string) => {
    const options: OptionSpec[] = cmd.options
      .filter((o) => !o.hidden)
      .map((o) => ({
        flags: [o.short, o.long].filter((f): f is string => typeof f === 'string'),
        description: oneLine(o.description),
        takesValue: o.required || o.optional,
        ...(o.argChoices ? { choices: o.argChoices } : {}),
        file: /file/i.test(o.flags),
      }));
    options.push({ flags: ['-h', '--help'], description: 'show help with examples', takesValue: false, file: false });
    const subcommands = cmd.commands
      .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
      .map((c) => ({ name: c.name(), description: oneLine(c.description()) }));
    if (path === '' && subcommands.length) subcommands.push({ name: 'help', description: 'show the help of a command' });
    const argumentChoices = cmd.registeredArguments.flatMap((a) => a.argChoices ?? []);
    specs.push({ path, description: oneLine(cmd.description()), subcommands, options, argumentChoices });
    for (const sub of cmd.commands) visit(sub, path ? `${path} ${sub.name()}` : sub.name());
  };
  visit(program, '');
  return specs;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function fnName(program: Command): string {
  return `_${program.name().replace(/[^A-Za-z0-9]/g, '_')}`;
}

/** `case` patterns for "<path> <word>" steps into a subcommand, shared by bash and zsh. */
function stepPatterns(specs: readonly CommandSpec[]): string {
  const steps = specs.flatMap((s) => s.subcommands.filter((c) => c.name !== 'help').map((c) => shQuote(`${s.path} ${c.name}`)));
  return steps.join('|');
}

function valueOptionsCase(specs: readonly CommandSpec[], indent: string): string {
  return specs
    .map((s) => {
      const flags = s.options.filter((o) => o.takesValue).flatMap((o) => o.flags);
      return `${indent}${shQuote(s.path)}) echo ${shQuote(flags.join(' '))} ;;`;
    })
    .join('\n');
}

function bashScript(program: Command, specs: readonly CommandSpec[]): string {
  const fn = fnName(program);
  const valueCases: string[] = [];
  for (const s of specs) {
    for (const o of s.options.filter((x) => x.takesValue)) {
      const pattern = o.flags.map((f) => shQuote(`${s.path}|${f}`)).join('|');
      const action = o.choices
        ? `COMPREPLY=( $(compgen -W ${shQuote(o.choices.join(' '))} -- "$cur") )`
        : o.file
          ? 'COMPREPLY=( $(compgen -f -- "$cur") )'
          : 'COMPREPLY=()';
      valueCases.push(`    ${pattern}) ${action}; return 0 ;;`);
    }
  }
  const wordCases = specs.map((s) => {
    const words = [...s.subcommands.map((c) => c.name), ...s.argumentChoices];
    return `    ${shQuote(s.path)}) words=${shQuote(words.join(' '))}; options=${shQuote(s.options.flatMap((o) => o.flags).join(' '))} ;;`;
  });
  return `# bash completion for ${program.name()}
# Load it with: source <(${program.name()} completion bash)
${fn}_value_options() {
  case "$1" in
${valueOptionsCase(specs, '    ')}
  esac
}

${fn}() {
  local cur prev cmd="" w i skip=0 words="" options=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for (( i=1; i<COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    if (( skip )); then skip=0; continue; fi
    if [[ "$w" == -* ]]; then
      case " $(${fn}_value_options "$cmd") " in *" $w "*) skip=1 ;; esac
      continue
    fi
    case "$cmd $w" in
      ${stepPatterns(specs)}) cmd="\${cmd:+$cmd }$w" ;;
    esac
  done
  case "$cmd|$prev" in
${valueCases.join('\n')}
  esac
  case "$cmd" in
${wordCases.join('\n')}
  esac
  if [[ "$cur" == -* ]]; then words="$options"; fi
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
  return 0
}
complete -F ${fn} ${program.name()}
`;
}

function zshEscape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

function zshScript(program: Command, specs: readonly CommandSpec[]): string {
  const fn = fnName(program);
  const valueCases: string[] = [];
  for (const s of specs) {
    for (const o of s.options.filter((x) => x.takesValue)) {
      const pattern = o.flags.map((f) => shQuote(`${s.path}|${f}`)).join('|');
      const action = o.choices ? `compadd -- ${o.choices.map(shQuote).join(' ')}` : o.file ? '_files' : ':';
      valueCases.push(`    ${pattern}) ${action}; return ;;`);
    }
  }
  const wordCases = specs.map((s) => {
    const commands = [...s.subcommands.map((c) => `${zshEscape(c.name)}:${zshEscape(c.description)}`), ...s.argumentChoices.map((a) => zshEscape(a))];
    const options = s.options.flatMap((o) => o.flags.map((f) => `${zshEscape(f)}:${zshEscape(o.description)}`));
    return `    ${shQuote(s.path)})
      commands=(${commands.map(shQuote).join(' ')})
      options=(${options.map(shQuote).join(' ')}) ;;`;
  });
  return `#compdef ${program.name()}
# zsh completion for ${program.name()}
# Load it with: source <(${program.name()} completion zsh)   (after compinit)
${fn}_value_options() {
  case "$1" in
${valueOptionsCase(specs, '    ')}
  esac
}

${fn}() {
  local cmd="" w i skip=0 prev
  local -a commands options
  for (( i=2; i<CURRENT; i++ )); do
    w="\${words[i]}"
    if (( skip )); then skip=0; continue; fi
    if [[ "$w" == -* ]]; then
      case " $(${fn}_value_options "$cmd") " in *" $w "*) skip=1 ;; esac
      continue
    fi
    case "$cmd $w" in
      ${stepPatterns(specs)}) cmd="\${cmd:+$cmd }$w" ;;
    esac
  done
  prev="\${words[CURRENT-1]}"
  case "$cmd|$prev" in
${valueCases.join('\n')}
  esac
  case "$cmd" in
${wordCases.join('\n')}
  esac
  if [[ "$PREFIX" == -* ]]; then
    _describe -t options 'option' options
  else
    _describe -t commands 'command' commands
  fi
}

if [[ "\${funcstack[1]}" == "${fn}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${program.name()}
fi
`;
}

function fishQuote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fishScript(program: Command, specs: readonly CommandSpec[]): string {
  const name = program.name();
  const fn = `__${name.replace(/[^A-Za-z0-9]/g, '_')}`;
  const steps = specs.flatMap((s) => s.subcommands.filter((c) => c.name !== 'help').map((c) => fishQuote(`${s.path} ${c.name}`)));
  const valueOptionCases = specs.map(
    (s) =>
      `        case ${fishQuote(s.path)}\n            echo ${fishQuote(
        s.options
          .filter((o) => o.takesValue)
          .flatMap((o) => o.flags)
          .join(' '),
      )}`,
  );
  const lines: string[] = [];
  for (const s of specs) {
    const at = `-n ${fishQuote(`${fn}_at ${fishQuote(s.path)}`)}`;
    for (const c of s.subcommands) lines.push(`complete -c ${name} ${at} -a ${fishQuote(c.name)} -d ${fishQuote(c.description)}`);
    if (s.argumentChoices.length) lines.push(`complete -c ${name} ${at} -a ${fishQuote(s.argumentChoices.join(' '))}`);
    for (const o of s.options) {
      const flags = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
      const value = o.choices ? `-x -a ${fishQuote(o.choices.join(' '))}` : o.file ? '-r -F' : o.takesValue ? '-x' : '';
      lines.push(`complete -c ${name} ${at} ${flags} ${value} -d ${fishQuote(o.description)}`.replace(/ {2,}/g, ' '));
    }
  }
  return `# fish completion for ${name}
# Load it with: ${name} completion fish | source
complete -c ${name} -f

function ${fn}_value_options
    switch $argv[1]
${valueOptionCases.join('\n')}
    end
end

function ${fn}_path
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path ''
    set -l skip 0
    for w in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $w
            if contains -- $w (string split ' ' -- (${fn}_value_options $path))
                set skip 1
            end
            continue
        end
        switch "$path $w"
            case ${steps.join(' ')}
                set path (string trim -- "$path $w")
        end
    end
    echo $path
end

function ${fn}_at
    set -l p (${fn}_path)
    test "$p" = "$argv[1]"
end

${lines.join('\n')}
`;
}

export function completionScript(program: Command, shell: Shell): string {
  const specs = completionSpecs(program);
  switch (shell) {
    case 'bash':
      return bashScript(program, specs);
    case 'zsh':
      return zshScript(program, specs);
    case 'fish':
      return fishScript(program, specs);
  }
}
