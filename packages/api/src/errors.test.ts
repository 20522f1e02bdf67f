import { readFileSync } from 'node:fs'
import { ERROR_CODES, ERROR_STATUS } from '@berth/shared'
import { expect, test } from 'vitest'
import { ApiError, errorBody } from './errors.ts'

// docs/api.md is where a client learns the codes: its table and the closed set are one list.

const apiDoc = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8')

/** The rows of the code table: `| \`code\` | \`error\` | when |`. */
function documentedCodes(): Record<string, string> {
  const rows = [...apiDoc.matchAll(/^\| `([a-z_]+)` +\| `([a-z_]+)` +\|/gm)]
  return Object.fromEntries(rows.map((row) => [row[1], row[2]]).filter(([code]) => !(code! in ERROR_STATUS)))
}

test('docs/api.md lists every error code with its kind, and no other', () => {
  expect(documentedCodes()).toEqual({ ...ERROR_CODES })
})

test('an error body carries its code, or its kind when it has none', () => {
  const coded = new ApiError('conflict', 'taken', { code: 'email_taken' })
  expect(errorBody(coded, 'req_1', 0)).toMatchObject({ error: 'conflict', code: 'email_taken', status: 409 })
  expect(errorBody(new ApiError('not_found', 'gone'), 'req_1', 0)).toMatchObject({ code: 'not_found' })
  // @ts-expect-error a code of another kind is a type error
  void new ApiError('conflict', 'x', { code: 'invalid_credentials' })
  // @ts-expect-error a code outside the set is a type error
  void new ApiError('conflict', 'x', { code: 'emial_taken' })
})
