/** True when a write failed on a UNIQUE constraint (libSQL and D1 both say so in the message). */
export function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (String((e as Error).message ?? e).includes('UNIQUE constraint failed')) return true
  }
  return false
}
