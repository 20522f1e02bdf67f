// One-line log records on stderr: a time, a level, a message, and an error's name and message
// (never its stack, never a request body).

function line(level: string, message: string, err?: unknown): string {
  const detail =
    err instanceof Error ? ` (${err.name}: ${err.message.replace(/\s+/g, ' ').slice(0, 300)})` : ''
  return `${new Date().toISOString()} ${level} ${message}${detail}`
}

export const log = {
  info: (message: string) => console.error(line('info', message)),
  warn: (message: string, err?: unknown) => console.error(line('warn', message, err)),
  error: (message: string, err?: unknown) => console.error(line('error', message, err)),
}
