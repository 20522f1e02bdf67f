/** The documented error body: every 4xx and 5xx answer of the API. */
export interface ErrorBody {
  error: string
  code: string
  message: string
  status: number
  request_id: string
  timestamp: string
  details?: unknown
}

/** A call the API refused or failed: its error body, or a transport failure with status 0. */
export class BerthError extends Error {
  constructor(readonly body: ErrorBody) {
    super(body.message)
    this.name = 'BerthError'
  }

  /** An error found on this side of the API (no answer, a name no list holds): no request id. */
  static local(fields: Pick<ErrorBody, 'error' | 'code' | 'message' | 'status'>): BerthError {
    return new BerthError({ ...fields, request_id: '', timestamp: new Date().toISOString() })
  }

  get status(): number {
    return this.body.status
  }

  get code(): string {
    return this.body.code
  }
}

/** The API's error body, or one made from the status when something else (a proxy) answered. */
export function errorBodyOf(
  res: Pick<Response, 'status' | 'statusText' | 'headers'>,
  text: string,
): ErrorBody {
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>
    if (typeof body.code === 'string' && typeof body.message === 'string') return body as ErrorBody
  } catch {
    // not JSON: described from the status below
  }
  return {
    error: res.status >= 500 ? 'internal' : 'http_error',
    code: 'http_error',
    message: `the API answered ${`${res.status} ${res.statusText}`.trim()}${movedTo(res)}`,
    status: res.status,
    request_id: res.headers.get('X-Request-Id') ?? '',
    timestamp: new Date().toISOString(),
  }
}

/** Where a redirect points: the URL to use instead (an http:// URL that the host sends to https://). */
function movedTo(res: Pick<Response, 'status' | 'headers'>): string {
  const location = res.status >= 300 && res.status < 400 ? res.headers.get('Location') : null
  return location ? `, moved to ${location}: use that URL` : ''
}

/**
 * A failure with no answer of the API behind it (status 0): `unreachable` when no answer came,
 * `connection_lost` when a stream or terminal broke off before its end.
 */
export function localError(code: 'unreachable' | 'connection_lost', message: string): BerthError {
  return BerthError.local({ error: code, code, message, status: 0 })
}

export function unreachable(err: unknown): BerthError {
  if (err instanceof BerthError) return err
  const cause =
    err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)
  return localError('unreachable', `the API could not be reached: ${cause}`)
}
