import type { Context } from 'hono'
import type { AppEnv } from '../context.ts'
import { ApiError } from '../errors.ts'

/** A one-file bundle as a download, or not_found where this runtime has none (Workers, or not built). */
export function bundleDownload(c: Context<AppEnv>, bundle: Uint8Array | null, filename: string) {
  if (!bundle) throw new ApiError('not_found', `${filename} is not built on this API (npm run build)`)
  return c.body(bundle as Uint8Array<ArrayBuffer>, 200, {
    'Content-Type': 'text/javascript; charset=utf-8',
    'Content-Disposition': `attachment; filename="${filename}"`,
  })
}
