import { Readable } from 'node:stream'

export interface OutputPiece {
  stream: 'stdout' | 'stderr'
  data: Buffer
}

export interface OutputStream extends AsyncIterable<OutputPiece> {
  destroy(): void
}

/** A sink for one of the streams docker-modem's demultiplexer splits out. */
export interface PieceSink {
  write(data: Buffer): boolean
}

export type Demux = (source: Readable, stdout: PieceSink, stderr: PieceSink) => void

/** Docker's output stream as pieces: demultiplexed with the modem's helper, or raw as stdout when `demux` is null. */
export function outputOf(source: Readable, demux: Demux | null, signal: AbortSignal): OutputStream {
  const output = new Readable({
    objectMode: true,
    highWaterMark: 16,
    read: () => {
      source.resume()
    },
    destroy: (err, callback) => {
      source.destroy()
      callback(err)
    },
  })
  const sink = (stream: OutputPiece['stream']): PieceSink => ({
    write(data) {
      // A reader that falls behind pauses Docker's stream until it reads again.
      if (!output.push({ stream, data } satisfies OutputPiece)) source.pause()
      return true
    },
  })
  if (demux) demux(source, sink('stdout'), sink('stderr'))
  else source.on('data', (data: Buffer) => sink('stdout').write(data))
  source.once('end', () => output.push(null))
  source.once('error', (err) => output.destroy(err))
  source.once('close', () => {
    if (!source.readableEnded) output.destroy()
  })
  const abort = () => output.destroy()
  if (signal.aborted) abort()
  signal.addEventListener('abort', abort, { once: true })
  output.once('close', () => signal.removeEventListener('abort', abort))
  return output
}

/** Docker's newline-delimited JSON streams (events, pull and build progress), one value per line. */
export async function* jsonLines(source: Readable): AsyncGenerator<unknown> {
  source.setEncoding('utf8')
  let rest = ''
  try {
    for await (const chunk of source) {
      rest += String(chunk)
      let newline = rest.indexOf('\n')
      while (newline !== -1) {
        const line = rest.slice(0, newline).trim()
        rest = rest.slice(newline + 1)
        if (line) yield parseJson(line)
        newline = rest.indexOf('\n')
      }
    }
    if (rest.trim()) yield parseJson(rest)
  } finally {
    source.destroy()
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}
