import { type ERROR_CODES, ERROR_STATUS, type ErrorBody, type ErrorCode, type ErrorKind } from '@berth/shared'

/** The codes that come with a kind (and the kind itself, as a code says no more). */
type CodeOf<K extends ErrorKind> =
  | K
  | { [C in ErrorCode]: (typeof ERROR_CODES)[C] extends K ? C : never }[ErrorCode]

/** The one error type of the API: a kind from the closed set, a stable code, a message fit for users. */
export class ApiError<K extends ErrorKind = ErrorKind> extends Error {
  readonly kind: K
  readonly code: ErrorCode | ErrorKind
  readonly details: unknown
  readonly headers: Record<string, string>

  constructor(
    kind: K,
    message: string,
    opts: { code?: CodeOf<NoInfer<K>>; details?: unknown; headers?: Record<string, string> } = {},
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

/** A plain request to an endpoint that only takes a WebSocket. */
export const upgradeRequired = () =>
  new ApiError('validation_error', 'this endpoint takes a WebSocket upgrade', { code: 'upgrade_required' })

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
