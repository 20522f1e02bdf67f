/** The closed set of error kinds the HTTP API answers with, and the status each one carries. */
export const ERROR_STATUS = {
  validation_error: 400,
  auth_error: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  state_error: 422,
  rate_limited: 429,
  internal: 500,
  agent_error: 502,
  agent_offline: 503,
  timeout: 504,
} as const

export type ErrorKind = keyof typeof ERROR_STATUS

/** The body of every error response. */
export interface ErrorBody {
  error: ErrorKind
  /** A finer, stable machine code, e.g. `invalid_credentials`; equals `error` when there is none. */
  code: string
  message: string
  status: number
  request_id: string
  timestamp: string
  details?: unknown
}

/** An error an agent reports for a call; `kind` maps onto the HTTP error it becomes. */
export const AGENT_ERROR_KINDS = [
  'agent_error',
  /** Only sent for calls that ask the agent to hold a caller to less than an admin may do. */
  'forbidden',
  'not_found',
  'conflict',
  'state_error',
  'timeout',
  'validation_error',
] as const
export type AgentErrorKind = (typeof AGENT_ERROR_KINDS)[number]
