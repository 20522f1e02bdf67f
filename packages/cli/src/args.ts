import { type ParsedArgs, UsageError } from './command.ts'

/**
 * The positionals a command takes, by name (`SERVER`, `[CMD...]`): required ones must be there,
 * and more than the names allow is a usage error, unless the last name ends with `...`.
 */
export function positionals(args: ParsedArgs, names: string[]): string[] {
  const required = names.filter((n) => !n.startsWith('[')).length
  const rest = names.at(-1)?.endsWith('...]') ?? false
  const got = args.positionals
  if (got.length < required) throw new UsageError(`missing ${names[got.length]}`)
  if (!rest && got.length > names.length) throw new UsageError(`unexpected argument: ${got[names.length]}`)
  return got
}

/** A string option's value, or undefined when it was not given. */
export function option(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name]
  return typeof value === 'string' ? value : undefined
}

/** A repeatable option's values (none given: an empty list). */
export function options(args: ParsedArgs, name: string): string[] {
  const value = args.values[name]
  return Array.isArray(value) ? value : typeof value === 'string' ? [value] : []
}

/** `K=V` pairs (`--env`, `env set`) as a record; a pair without `=` is a usage error. */
export function pairs(items: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const item of items) {
    const at = item.indexOf('=')
    if (at <= 0) throw new UsageError(`${what} must be KEY=VALUE, not ${item}`)
    out[item.slice(0, at)] = item.slice(at + 1)
  }
  return out
}

/** A whole number given on the command line; anything else is a usage error. */
export function integer(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${what} must be a whole number, not ${value}`)
  return Number(value)
}

/** A string option the command cannot go without. */
export function required(args: ParsedArgs, name: string): string {
  const value = option(args, name)
  if (value === undefined) throw new UsageError(`missing --${name} ${name.toUpperCase()}`)
  return value
}

/** A boolean option as the API's query flags take it: `true`, or left out. */
export function queryFlag(args: ParsedArgs, name: string): 'true' | undefined {
  return args.values[name] === true ? 'true' : undefined
}

/** A string option that must be one of `choices`, or undefined when it was not given. */
export function choice<const T extends string>(
  args: ParsedArgs,
  name: string,
  choices: readonly T[],
): T | undefined {
  const value = option(args, name)
  if (value !== undefined && !(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}`)
  }
  return value as T | undefined
}
