import { constants } from 'node:fs'
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { OpError } from './errors.ts'

/** The largest upload the agent takes. */
export const MAX_UPLOAD_BYTES = 2 * 1024 ** 3
/** Uploads never used are removed after this long. */
const UPLOAD_TTL_MS = 24 * 3600_000

/**
 * The archives sent with `upload.chunk`, waiting in `uploads/` of the work folder for the deploy
 * or the `files.put` that takes them; neither needs the other to be there.
 */
export class Uploads {
  readonly dir: string

  constructor(workDir: string) {
    this.dir = join(workDir, 'uploads')
  }

  /** Where an upload's bytes are. */
  path(uploadId: string): string {
    return join(this.dir, `${uploadId}.tar.gz`)
  }

  /**
   * Writes a piece of an upload at its offset; sending the same piece again changes nothing.
   * Returns the file's size. Uploads older than a day are removed on the way.
   */
  async write(chunk: { upload_id: string; offset: number; data: string }): Promise<number> {
    const data = Buffer.from(chunk.data, 'base64')
    if (chunk.offset + data.length > MAX_UPLOAD_BYTES) {
      throw new OpError('validation_error', `an upload may hold at most ${MAX_UPLOAD_BYTES} bytes`)
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    await this.removeStale()
    // Created when missing, never truncated: pieces may come in any order, and more than once.
    const file = await open(this.path(chunk.upload_id), constants.O_RDWR | constants.O_CREAT, 0o600)
    try {
      if (data.length > 0) await file.write(data, 0, data.length, chunk.offset)
      return (await file.stat()).size
    } finally {
      await file.close()
    }
  }

  /** Removes an upload once used, whether or not it was there. */
  async remove(uploadId: string): Promise<void> {
    await rm(this.path(uploadId), { force: true })
  }

  private async removeStale(): Promise<void> {
    const now = Date.now()
    for (const name of await readdir(this.dir).catch(() => [])) {
      const path = join(this.dir, name)
      const info = await stat(path).catch(() => null)
      if (info && now - info.mtimeMs > UPLOAD_TTL_MS) await rm(path, { force: true })
    }
  }
}
