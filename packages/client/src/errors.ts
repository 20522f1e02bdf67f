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

  get status(): number {
    return this.body.status
  }

  get code(): string {
    return this.body.code
  }
}

/** A failure that never reached the API's error handler (no connection, a body that is not one). */
export function transportError(message: string, status = 0): BerthError {
  return new BerthError({
    error: 'transport_error',
    code: 'transport_error',
    message,
    status,
    request_id: '',
    timestamp: new Date().toISOString(),
  })
}

/** The BerthError of a refused answer: its error body, or a transport error naming the status. */
export async function errorOf(res: Response): Promise<BerthError> {
  const text = await res.text().catch(() => '')
  try {
    const body = JSON.parse(text) as ErrorBody
    if (body && typeof body.message === 'string' && typeof body.code === 'string') return new BerthError(body)
  } catch {
    // not the documented body: a proxy's page, or nothing
  }
  return transportError(`the API answered ${res.status} ${res.statusText}`.trim(), res.status)
}
