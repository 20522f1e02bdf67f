import { z } from 'zod'
import { queryFlag } from './query.ts'

// The terminal: `GET /servers/:sid/containers/:cid/exec` as a WebSocket, and its frames.

/** The subprotocol a browser offers (with `bearer.<token>`) and the API answers with. */
export const TERMINAL_PROTOCOL = 'berth.v1'
/** A browser cannot set Authorization on a WebSocket: it offers `bearer.<token>` as a subprotocol. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.'

const size = z.coerce.number().int().min(1).max(1000)

export const execQuery = z.object({
  /** The command: a JSON array of arguments, or words separated by spaces. */
  cmd: z
    .string()
    .min(1)
    .max(8192)
    .transform((v, ctx) => {
      if (!v.trimStart().startsWith('[')) return v.trim().split(/\s+/)
      try {
        const parsed = z.array(z.string().max(4096)).min(1).max(256).parse(JSON.parse(v))
        return parsed
      } catch {
        ctx.addIssue({ code: 'custom', message: 'a JSON array of strings, or words separated by spaces' })
        return z.NEVER
      }
    })
    .default(['/bin/sh']),
  tty: queryFlag.default(true),
  cols: size.default(80),
  rows: size.default(24),
  user: z.string().min(1).max(256).optional(),
  workdir: z.string().startsWith('/').max(4096).optional(),
  /** `KEY=value`, repeated for more. */
  env: z
    .union([z.string(), z.array(z.string())])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .pipe(
      z
        .array(
          z
            .string()
            .max(32_768)
            .regex(/^[^=\0]+=/, 'KEY=value'),
        )
        .max(256),
    )
    .optional(),
})

const data = z.string().max(1024 * 1024)
const encoding = z.enum(['utf8', 'base64']).default('utf8')

/** What a terminal's client sends. */
export const terminalClientFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stdin'), data, encoding }).strict(),
  z
    .object({
      type: z.literal('resize'),
      cols: z.number().int().min(1).max(1000),
      rows: z.number().int().min(1).max(1000),
    })
    .strict(),
  z.object({ type: z.literal('signal'), name: z.enum(['INT', 'TERM', 'KILL', 'HUP', 'QUIT']) }).strict(),
  z.object({ type: z.literal('close') }).strict(),
])
export type TerminalClientFrame = z.infer<typeof terminalClientFrame>
