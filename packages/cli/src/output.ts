import type { ErrorBody } from '@berth/client'
import type { CommandContext } from './command.ts'

export type Out = Pick<CommandContext, 'json' | 'color' | 'stdout'>

/** One JSON document on stdout: what `--json` prints. */
export function printJson(ctx: Out, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

/** `value` as JSON under `--json`, else what `human` prints. */
export function show(ctx: Out, value: unknown, human: () => void): void {
  if (ctx.json) printJson(ctx, value)
  else human()
}

const STYLES = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39] } as const
export type Style = keyof typeof STYLES

/** `text` in a style where colour is allowed (a TTY without NO_COLOR), else as it is. */
export function paint(ctx: Pick<CommandContext, 'color'>, style: Style, text: string): string {
  if (!ctx.color) return text
  const [on, off] = STYLES[style]
  return `\u001b[${on}m${text}\u001b[${off}m`
}

/** A column of a table: its header and how a row shows in it. */
export type Column<T> = [header: string, cell: (row: T) => unknown]

/** Rows as aligned columns under a header; an empty list says so instead. */
export function printTable<T>(ctx: Out, rows: T[], columns: Column<T>[], empty = 'nothing to show'): void {
  if (rows.length === 0) {
    ctx.stdout.write(`${paint(ctx, 'dim', empty)}\n`)
    return
  }
  const cells = rows.map((row) => columns.map(([, cell]) => text(cell(row))))
  const widths = columns.map(([header], i) => Math.max(header.length, ...cells.map((r) => r[i]!.length)))
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  ctx.stdout.write(`${paint(ctx, 'bold', line(columns.map(([header]) => header.toUpperCase())))}\n`)
  for (const row of cells) ctx.stdout.write(`${line(row)}\n`)
}

/** One object as `key  value` lines. */
export function printFields(ctx: Out, fields: [label: string, value: unknown][]): void {
  const width = Math.max(...fields.map(([label]) => label.length))
  for (const [label, value] of fields)
    ctx.stdout.write(`${paint(ctx, 'dim', label.padEnd(width))}  ${text(value)}\n`)
}

function text(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-'
  if (Array.isArray(value)) return value.map(text).join(', ')
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** A byte count for people: 1.5 GiB. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

/** An error body as the one line `berth` prints on stderr: `berth: message (code, request req_…)`. */
export function errorLine(body: ErrorBody): string {
  const where = body.request_id ? `, request ${body.request_id}` : ''
  return `berth: ${oneLine(body.message)} (${body.code}${where})`
}

export const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ')
