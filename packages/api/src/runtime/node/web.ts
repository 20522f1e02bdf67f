import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

// The dashboard's built files (packages/web/dist) for every path outside /api/, as Workers
// static assets serve them (not_found_handling = "single-page-application"): the file when there
// is one, the page itself for any other path (the page routes it), and the headers its _headers
// file gives.

export const WEB_ROOT = fileURLToPath(new URL('../../../../web/dist', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
}

interface HeaderRule {
  pattern: string
  headers: [string, string][]
}

/** The blocks of a _headers file: a path pattern (`*` matching the rest) and its indented headers. */
export function parseHeaderRules(text: string): HeaderRule[] {
  const rules: HeaderRule[] = []
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trimStart().startsWith('#')) continue
    if (!/^\s/.test(line)) {
      rules.push({ pattern: line.trim(), headers: [] })
      continue
    }
    const colon = line.indexOf(':')
    if (colon > 0) rules.at(-1)?.headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()])
  }
  return rules
}

const matches = (pattern: string, path: string) =>
  pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : pattern === path

/** Serves `root` (the built dashboard); a missing build answers every page with how to make it. */
export function webAssets(root = WEB_ROOT): (req: Request) => Promise<Response> {
  let rules: Promise<HeaderRule[]> | undefined
  const headerRules = () =>
    (rules ??= readFile(join(root, '_headers'), 'utf8').then(parseHeaderRules, () => []))
  return async (req) => {
    // As Workers static assets answer them: the files are only to be read.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return new Response(null, { status: 405, headers: { Allow: 'GET, HEAD' } })
    }
    let path: string
    try {
      path = decodeURIComponent(new URL(req.url).pathname)
    } catch {
      return text(400, 'bad path')
    }
    const file = await fileFor(root, path)
    if (!file) return text(404, 'not found')
    let body: Buffer
    try {
      body = await readFile(file.path)
    } catch {
      return text(503, 'the dashboard is not built: run `npm run build`')
    }
    const headers = new Headers({ 'Content-Type': TYPES[extname(file.path)] ?? 'application/octet-stream' })
    for (const rule of await headerRules()) {
      if (matches(rule.pattern, file.served))
        for (const [name, value] of rule.headers) headers.set(name, value)
    }
    if (!headers.has('Cache-Control')) headers.set('Cache-Control', 'no-cache')
    return new Response(req.method === 'HEAD' ? null : new Uint8Array(body), { headers })
  }
}

/** The file under `root` for a request path: the path's own file, or the page for any other. */
async function fileFor(root: string, path: string): Promise<{ path: string; served: string } | null> {
  const clean = normalize(path)
  // No way out of root, and no dotfile or _headers served.
  if (path.includes('\0') || clean.split(sep).some((part) => part === '..' || /^[._]/.test(part))) return null
  if (clean !== '/' && !clean.endsWith('/')) {
    const candidate = join(root, clean)
    if (
      candidate.startsWith(root + sep) &&
      (await stat(candidate).then(
        (s) => s.isFile(),
        () => false,
      ))
    ) {
      return { path: candidate, served: clean }
    }
  }
  return { path: join(root, 'index.html'), served: clean }
}

function text(status: number, message: string): Response {
  return new Response(`${message}\n`, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8' } })
}
