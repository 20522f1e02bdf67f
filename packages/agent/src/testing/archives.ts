import tar from 'tar-stream'

/** A tar of regular files, by name, in that order. */
export async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (chunk: Buffer) => chunks.push(chunk))
  const ended = new Promise((resolve) => pack.on('end', resolve))
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, body)
  pack.finalize()
  await ended
  return Buffer.concat(chunks)
}
