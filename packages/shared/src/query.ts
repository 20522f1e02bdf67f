import { z } from 'zod'

/** A `true`/`false` query parameter. */
export const queryFlag = z.enum(['true', 'false']).transform((v) => v === 'true')
