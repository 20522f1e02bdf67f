import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { ROOT } from './process.ts'

// What a browser downloads for a page of the built dashboard, read from Vite's build manifest:
// the entry, the chunks it imports, their CSS, and the route's own chunk with what that imports.

export const WEB_DIST = join(ROOT, 'packages/web/dist')

interface Chunk {
  file: string
  imports?: string[]
  css?: string[]
}

export interface PageWeight {
  files: { file: string; bytes: number; gzipBytes: number }[]
  bytes: number
  gzipBytes: number
}

/** The JS and CSS that `route` (a page module, e.g. `src/pages/servers.tsx`) needs on first load. */
export function pageWeight(route: string): PageWeight {
  const manifest: Record<string, Chunk> = JSON.parse(
    readFileSync(join(WEB_DIST, '.vite/manifest.json'), 'utf8'),
  )
  const files = new Set<string>()
  const visit = (key: string) => {
    const chunk = manifest[key]
    if (!chunk) throw new Error(`${key} is not in the build manifest`)
    if (files.has(chunk.file)) return
    files.add(chunk.file)
    for (const css of chunk.css ?? []) files.add(css)
    for (const imported of chunk.imports ?? []) visit(imported)
  }
  visit('index.html')
  visit(route)
  const sized = [...files].map((file) => {
    const body = readFileSync(join(WEB_DIST, file))
    return { file, bytes: body.length, gzipBytes: gzipSync(body).length }
  })
  return {
    files: sized,
    bytes: sized.reduce((sum, f) => sum + f.bytes, 0),
    gzipBytes: sized.reduce((sum, f) => sum + f.gzipBytes, 0),
  }
}

/** Every page module the build has (each a route of the dashboard). */
export function pageModules(): string[] {
  const manifest: Record<string, Chunk & { isDynamicEntry?: boolean }> = JSON.parse(
    readFileSync(join(WEB_DIST, '.vite/manifest.json'), 'utf8'),
  )
  return Object.keys(manifest).filter((key) => manifest[key]!.isDynamicEntry && key.startsWith('src/pages/'))
}
