/** Where the agent says what it is doing; one line per message, never a token. */
export type Log = (message: string) => void

/** Writes each message to stderr as one line behind an ISO time. */
export const logToStderr: Log = (message) => {
  process.stderr.write(`${new Date().toISOString()} ${message.replace(/\s*\n\s*/g, ' ')}\n`)
}

/** The message of anything thrown, for a log line. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
