import { z } from 'zod'

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

/**
 * The closed set of finer codes an error carries beside its kind, each with the kind it comes
 * with. docs/api.md lists every one (a unit test holds the two together).
 */
export const ERROR_CODES = {
  malformed_request: 'validation_error',
  unsupported_content_type: 'validation_error',
  upgrade_required: 'validation_error',
  upgrade_unsupported: 'validation_error',
  unknown_channel: 'validation_error',
  upload_required: 'validation_error',
  missing_delivery_id: 'validation_error',
  archive_refused: 'validation_error',
  invalid_credentials: 'auth_error',
  invalid_enrollment_token: 'auth_error',
  invalid_agent_token: 'auth_error',
  bad_signature: 'auth_error',
  registration_closed: 'forbidden',
  insufficient_permissions: 'forbidden',
  reveal_forbidden: 'forbidden',
  docker_forbidden: 'forbidden',
  wrong_password: 'forbidden',
  scope_exceeds_role: 'forbidden',
  scope_exceeds_token: 'forbidden',
  expiry_exceeds_token: 'forbidden',
  file_url_forbidden: 'forbidden',
  host_path_forbidden: 'forbidden',
  host_container_forbidden: 'forbidden',
  host_access_forbidden: 'forbidden',
  agent_container_forbidden: 'forbidden',
  agent_volume_forbidden: 'forbidden',
  email_taken: 'conflict',
  server_name_taken: 'conflict',
  app_name_taken: 'conflict',
  hostname_taken: 'conflict',
  ambiguous_container: 'conflict',
  commit_already_deployed: 'conflict',
  too_many_subscriptions: 'conflict',
  last_admin: 'state_error',
  self_delete: 'state_error',
  deployment_finished: 'state_error',
  nothing_to_roll_back: 'state_error',
  not_a_successful_deployment: 'state_error',
  git_failed: 'state_error',
  proxy_missing: 'state_error',
  automatic_domain: 'state_error',
  unknown_redirect_target: 'state_error',
  redirect_target_in_use: 'state_error',
  too_many_login_failures: 'rate_limited',
  too_many_sockets: 'rate_limited',
  too_many_streams: 'rate_limited',
  reader_stalled: 'timeout',
  docker_bad_response: 'agent_error',
} as const satisfies Record<string, ErrorKind>

export type ErrorCode = keyof typeof ERROR_CODES

/** Whether a code heard from elsewhere (an agent's error) is one of the set. */
export const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERROR_CODES, code)

/** The body of every error response. */
export const errorBodySchema = z.object({
  error: z.enum(Object.keys(ERROR_STATUS) as [ErrorKind, ...ErrorKind[]]),
  /** A finer, stable machine code, e.g. `invalid_credentials`; equals `error` when there is none. */
  code: z.enum([...Object.keys(ERROR_CODES), ...Object.keys(ERROR_STATUS)] as [
    ErrorCode | ErrorKind,
    ...(ErrorCode | ErrorKind)[],
  ]),
  message: z.string(),
  status: z.number().int(),
  request_id: z.string(),
  timestamp: z.string().describe('an ISO 8601 time'),
  details: z.unknown().optional(),
})
export type ErrorBody = z.infer<typeof errorBodySchema>

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
