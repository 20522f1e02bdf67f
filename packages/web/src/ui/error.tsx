import { BerthError } from '@berth/client'

/** What went wrong, as a person reads it: the API's message, its code and the request id to quote. */
export function ErrorNote({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null
  if (error instanceof BerthError) {
    const { message, code, request_id } = error.body
    return (
      <p class="error" role="alert">
        {message}{' '}
        <span class="muted">
          ({code}
          {request_id ? `, request ${request_id}` : ''})
        </span>
      </p>
    )
  }
  return (
    <p class="error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </p>
  )
}
