import type { z } from 'zod'
import { ApiError } from '../errors.ts'

/** A client's WebSocket frame read with its schema: the frame, or the validation_error to answer with. */
export function readClientFrame<S extends z.ZodType>(
  schema: S,
  text: string,
): { frame: z.output<S> } | { error: ApiError } {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { error: new ApiError('validation_error', 'a frame must be JSON', { code: 'malformed_request' }) }
  }
  const parsed = schema.safeParse(raw)
  if (parsed.success) return { frame: parsed.data }
  return {
    error: new ApiError('validation_error', 'the frame is not valid', {
      details: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    }),
  }
}
