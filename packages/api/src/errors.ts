import { ERROR_STATUS, type ErrorBody, type ErrorKind } from '@berth/shared'

/** The one error type of the API: a kind from the closed set, a stable code, a message fit for users. */
export class ApiError extends Error {
  readonly kind: ErrorKind
  readonly code: string
  readonly details: unknown
  readonly headers: Record<string, string>

  constructor(
    kind: ErrorKind,
    message: string,
    opts: { code?: string; details?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message)
    this.kind = kind
    this.code = opts.code ?? kind
    this.details = opts.details
    this.headers = opts.headers ?? {}
  }

  get status(): number {
    return ERROR_STATUS[this.kind]
  }
}

export const notFound = (what: string, id?: string) =>
  new ApiError('not_found', id ? `${what} ${id} was not found` : `${what} was not found`)

export function errorBody(err: ApiError, requestId: string, now: number): ErrorBody {
  const body: ErrorBody = {
    error: err.kind,
    code: err.code,
    message: err.message,
    status: err.status,
    request_id: requestId,
    timestamp: new Date(now).toISOString(),
  }
  if (err.details !== undefined) body.details = err.details
  return body
}
