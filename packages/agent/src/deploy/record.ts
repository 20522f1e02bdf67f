import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { z } from 'zod'
import { Mutex } from '../concurrency.ts'

/**
 * A small JSON document in a file of its own, read whole and written whole through a temporary
 * file, so that a crash never leaves half of it. A missing or unreadable file reads as `empty`.
 */
export class JsonRecord<T> {
  private readonly lock = new Mutex()

  constructor(
    private readonly path: string,
    private readonly schema: z.ZodType<T>,
    private readonly empty: T,
  ) {}

  async read(): Promise<T> {
    try {
      const parsed = this.schema.safeParse(JSON.parse(await readFile(this.path, 'utf8')))
      return parsed.success ? parsed.data : structuredClone(this.empty)
    } catch {
      return structuredClone(this.empty)
    }
  }

  /** Changes the document with `change`, one change at a time. */
  update(change: (document: T) => void): Promise<void> {
    return this.lock.run(async () => {
      const document = await this.read()
      change(document)
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 })
      const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`
      try {
        await writeFile(temporary, `${JSON.stringify(document)}\n`, { mode: 0o600 })
        await rename(temporary, this.path)
      } catch (err) {
        await rm(temporary, { force: true })
        throw err
      }
    })
  }
}
