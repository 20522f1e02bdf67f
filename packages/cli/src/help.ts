import type { Command, OptionSpec } from './command.ts'

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  profile: { type: 'string', description: 'run as this saved profile (default: the default one)' },
  json: { type: 'boolean', description: 'print JSON for programs instead of tables' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
}

const VERSION_OPTION: OptionSpec = { type: 'boolean', description: 'print the version' }

export function usageLine(command: Command): string {
  return `berth ${command.name}${command.usage ? ` ${command.usage}` : ''} [options]`
}

/** `berth NAME --help`: what it does, how it is called, its options and examples. */
export function commandHelp(command: Command): string {
  const lines = [command.summary, '', `Usage: ${usageLine(command)}`]
  const own = Object.entries(command.options)
  if (own.length > 0) lines.push('', 'Options:', ...optionLines(own))
  lines.push('', 'Global options:', ...optionLines(Object.entries(GLOBAL_OPTIONS)))
  if (command.examples.length > 0) lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`))
  return `${lines.join('\n')}\n`
}

/** `berth --help` (every command) or `berth containers --help` (those under a word). */
export function listHelp(commands: Command[], under?: string): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  const lines = [
    under ? `Commands under berth ${under}:` : 'berth: drive a Berth API from the command line.',
    '',
    `Usage: berth ${under ?? 'COMMAND'} ${under ? 'COMMAND ' : ''}[options]`,
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    ...optionLines([...Object.entries(GLOBAL_OPTIONS), ['version', VERSION_OPTION]]),
    '',
    `Run \`berth ${under ? `${under} ` : ''}COMMAND --help\` for a command's options and examples.`,
  ]
  return `${lines.join('\n')}\n`
}

function optionLines(options: [string, OptionSpec][]): string[] {
  const flags = options.map(([name, spec]) => {
    const value = spec.type === 'string' ? ` ${name === 'profile' ? 'NAME' : 'VALUE'}` : ''
    return `${spec.short ? `-${spec.short}, ` : ''}--${name}${value}${spec.multiple ? '...' : ''}`
  })
  const width = Math.max(12, ...flags.map((f) => f.length))
  return options.map(([, spec], i) => `  ${flags[i]!.padEnd(width)}  ${spec.description}`)
}
