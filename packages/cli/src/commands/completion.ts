import { type Command, UsageError } from '../command.ts'
import { GLOBAL_OPTIONS } from '../help.ts'

// Completion scripts made from the registry, so a new command completes without editing a script.
// Each script finds the command words typed so far (skipping options) and offers the words after them.

interface Tree {
  /** Command words typed so far (`''`, `servers`) → the words that may follow, with summaries. */
  next: Map<string, Map<string, string>>
  /** Whole commands → their options, as `--name` with its description. */
  flags: Map<string, [string, string][]>
}

function tree(commands: Command[]): Tree {
  const next = new Map<string, Map<string, string>>()
  const flags = new Map<string, [string, string][]>()
  for (const command of commands) {
    const words = command.name.split(' ')
    words.forEach((word, i) => {
      const key = words.slice(0, i).join(' ')
      if (!next.has(key)) next.set(key, new Map())
      const last = i === words.length - 1
      next.get(key)!.set(word, last ? command.summary : `${word} commands`)
    })
    const options = { ...command.options, ...GLOBAL_OPTIONS }
    flags.set(
      command.name,
      Object.entries(options).map(([name, spec]) => [`--${name}`, spec.description]),
    )
  }
  return { next, flags }
}

const sh = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`
const fishQuote = (text: string) => `'${text.replace(/[\\']/g, '\\$&')}'`

/** The loop both bash and zsh run: the command words before the cursor, without options. */
const keyLoop = (from: string, to: string, word: string) => `  local key="" w i skip=0
  for ((i = ${from}; i < ${to}; i++)); do
    w="\${${word}}"
    if ((skip)); then skip=0; continue; fi
    case "$w" in
      --profile) skip=1 ;;
      -*) ;;
      *) key="\${key:+$key }$w" ;;
    esac
  done`

function cases({ next, flags }: Tree, assign: (words: string[]) => string): string {
  const lines: string[] = []
  for (const [key, words] of next) lines.push(`    ${sh(key)}) ${assign([...words.keys()])} ;;`)
  for (const [name, options] of flags) {
    lines.push(`    ${sh(name)}|${sh(`${name} `)}*) ${assign(options.map(([flag]) => flag))} ;;`)
  }
  return lines.join('\n')
}

function bash(t: Tree): string {
  return `# berth completion for bash: eval "$(berth completion bash)" in ~/.bashrc
_berth() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
${keyLoop('1', 'COMP_CWORD', 'COMP_WORDS[i]')}
  local words=""
  case "$key" in
${cases(t, (words) => `words=${sh(words.join(' '))}`)}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _berth berth
`
}

function zsh(t: Tree): string {
  return `#compdef berth
# berth completion for zsh: eval "$(berth completion zsh)" in ~/.zshrc, after compinit
_berth() {
${keyLoop('2', 'CURRENT', 'words[i]')}
  local -a choices
  case "$key" in
${cases(t, (words) => `choices=(${words.map(sh).join(' ')})`)}
  esac
  compadd -- "\${choices[@]}"
}
compdef _berth berth
`
}

function fish({ next, flags }: Tree): string {
  const lines = [
    '# berth completion for fish: berth completion fish > ~/.config/fish/completions/berth.fish',
    'function __berth_key',
    '  set -l key',
    '  set -l skip 0',
    '  for w in (commandline -opc)[2..-1]',
    '    if test $skip = 1; set skip 0; continue; end',
    '    switch $w',
    '      case --profile; set skip 1',
    "      case '-*'",
    "      case '*'; set -a key $w",
    '    end',
    '  end',
    '  string join " " -- $key',
    'end',
    'function __berth_at; set -l key (__berth_key); test "$key" = "$argv[1]"; end',
    'function __berth_in; set -l key (__berth_key); test "$key" = "$argv[1]"; or string match -q -- "$argv[1] *" "$key"; end',
    'complete -c berth -f',
  ]
  for (const [key, words] of next) {
    for (const [word, summary] of words) {
      lines.push(
        `complete -c berth -n ${fishQuote(`__berth_at ${sh(key)}`)} -a ${word} -d ${fishQuote(summary)}`,
      )
    }
  }
  for (const [name, options] of flags) {
    for (const [flag, description] of options) {
      const condition = fishQuote(`__berth_in ${sh(name)}`)
      lines.push(`complete -c berth -n ${condition} -l ${flag.slice(2)} -d ${fishQuote(description)}`)
    }
  }
  return `${lines.join('\n')}\n`
}

const SHELLS = { bash, zsh, fish }

const completion: Command = {
  name: 'completion',
  summary: 'Print the shell completion script for bash, zsh or fish',
  usage: 'bash|zsh|fish',
  examples: [
    'eval "$(berth completion bash)"',
    'eval "$(berth completion zsh)"',
    'berth completion fish > ~/.config/fish/completions/berth.fish',
  ],
  options: {},
  async run(ctx, { positionals }) {
    const shell = positionals[0]
    if (positionals.length !== 1 || !shell || !Object.hasOwn(SHELLS, shell)) {
      throw new UsageError('name one shell: bash, zsh or fish')
    }
    ctx.stdout.write(SHELLS[shell as keyof typeof SHELLS](tree(await ctx.commands())))
  },
}

export const commands = [completion]
