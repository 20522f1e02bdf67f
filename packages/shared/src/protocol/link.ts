/** Version carried by every frame between API and agent. */
export const PROTOCOL_VERSION = 1

/** HTTP paths the agent uses. */
export const AGENT_PATHS = {
  enroll: '/api/v1/agent/enroll',
  connect: '/api/v1/agent/connect',
  download: '/api/v1/agent/download',
} as const

/** The flow-control window of every stream (see `welcome.streamWindowBytes`). */
export const STREAM_WINDOW_BYTES = 1024 * 1024

/** WebSocket close codes the API ends an agent's link with. */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  invalidFrame: 1008,
  /** No heartbeat for three intervals; the agent reconnects. */
  heartbeatLost: 4000,
  /** Another connection with the same agent token took over. */
  replaced: 4001,
  /** The server was deleted or enrolled again: the agent must not come back. */
  revoked: 4401,
} as const
export const CLOSE_REVOKED = CLOSE_CODES.revoked
