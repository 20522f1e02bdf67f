import { z } from 'zod'

// The realtime socket: `GET /api/v1/ws`, subscriptions to channels, and its frames.

const channel = z.string().min(1).max(300)

/** What a realtime client sends. */
export const realtimeClientFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), channel }).strict(),
  z.object({ type: z.literal('unsubscribe'), channel }).strict(),
  z.object({ type: z.literal('ping') }).strict(),
])
export type RealtimeClientFrame = z.infer<typeof realtimeClientFrame>

/** The channels there are, parsed from their names. */
export type Channel =
  | { kind: 'servers' }
  | { kind: 'server'; serverId: string }
  | { kind: 'containers'; serverId?: string }
  | { kind: 'container-logs'; serverId: string; container: string }
  | { kind: 'container-stats'; serverId: string; container: string }
  | { kind: 'deployment'; deploymentId: string }
  | { kind: 'audit' }

const ID = '[A-Za-z0-9_.-]{1,128}'
const PATTERNS: [RegExp, (m: RegExpMatchArray) => Channel][] = [
  [/^servers$/, () => ({ kind: 'servers' })],
  [new RegExp(`^server:(${ID})$`), (m) => ({ kind: 'server', serverId: m[1]! })],
  [/^containers$/, () => ({ kind: 'containers' })],
  [new RegExp(`^server:(${ID}):containers$`), (m) => ({ kind: 'containers', serverId: m[1]! })],
  [
    new RegExp(`^container:(${ID}):(${ID}):logs$`),
    (m) => ({ kind: 'container-logs', serverId: m[1]!, container: m[2]! }),
  ],
  [
    new RegExp(`^container:(${ID}):(${ID}):stats$`),
    (m) => ({ kind: 'container-stats', serverId: m[1]!, container: m[2]! }),
  ],
  [new RegExp(`^deployment:(${ID})$`), (m) => ({ kind: 'deployment', deploymentId: m[1]! })],
  [/^audit$/, () => ({ kind: 'audit' })],
]

/** A channel name → what it is; null for a name that is no channel. */
export function parseChannel(name: string): Channel | null {
  for (const [pattern, build] of PATTERNS) {
    const m = name.match(pattern)
    if (m) return build(m)
  }
  return null
}
