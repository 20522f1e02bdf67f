import { ApiError } from '../errors.ts'
import { fromBase64Url, toBase64Url } from './crypto.ts'

// Cursors are opaque to clients: the last id of a page. Ids are time-ordered and unique,
// so paging by `id > cursor` neither skips nor repeats rows under concurrent inserts.

export function encodeCursor(lastId: string): string {
  return toBase64Url(new TextEncoder().encode(lastId))
}

export function decodeCursor(cursor: string | undefined): string | null {
  if (!cursor) return null
  try {
    const id = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(fromBase64Url(cursor))
    if (/^[a-z]{3,4}_[0-9a-z]{26}$/.test(id)) return id
  } catch {
    // fall through to the error below
  }
  throw new ApiError('validation_error', 'cursor is not valid', {
    details: [{ path: 'cursor', message: 'not a cursor' }],
  })
}

/** Takes `limit + 1` rows and returns a page with the cursor of the next one. */
export function toPage<T extends { id: string }>(
  rows: T[],
  limit: number,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null }
}
