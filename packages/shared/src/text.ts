import type { z } from 'zod'

/**
 * C0 and C1 controls, and the bidi marks, embeddings, overrides and isolates: characters that
 * make a name print other than it is stored (in a terminal, a log line or the dashboard).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is its purpose
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/

/** Whether a string holds a control or bidi-override character. */
export const hasUnsafeChars = (value: string) => UNSAFE_CHARS.test(value)

/** A name-like string field that refuses control and bidi-override characters. */
export const plainText = <T extends z.ZodString>(schema: T): T =>
  schema.refine((v) => !hasUnsafeChars(v), 'no control or bidirectional formatting characters')
