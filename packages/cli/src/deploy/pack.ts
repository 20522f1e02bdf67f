import { lstatSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join, relative, resolve, sep } from 'node:path'
import { createGzip } from 'node:zlib'
import dockerignore from '@balena/dockerignore'
import { pack } from 'tar-fs'
import { UsageError } from '../command.ts'

/** A folder packed for an upload deploy: the .tar.gz's bytes and how many entries it holds. */
export interface PackedFolder {
  bytes: Buffer
  entries: number
}

/** Files the build reads even when .dockerignore names them, as Docker sends them anyway. */
const ALWAYS = new Set(['Dockerfile', 'captain-definition', '.dockerignore'])

/**
 * The folder as a .tar.gz of its contents, without what its .dockerignore leaves out, so an
 * ignored file (a .env, node_modules) never leaves this machine. Links are packed as links.
 */
export async function packFolder(path: string): Promise<PackedFolder> {
  const dir = resolve(path)
  const info = await stat(dir).catch(() => null)
  if (!info?.isDirectory()) throw new UsageError(`${path} is not a folder`)
  const ignores = await ignoreRules(dir)
  let entries = 0
  const tar = pack(dir, {
    ignore: (file) => ignores(relative(dir, file).split(sep).join('/'), file),
    map: (header) => {
      entries++
      return header
    },
  })
  const chunks: Buffer[] = []
  const gzip = tar.pipe(createGzip())
  for await (const chunk of gzip) chunks.push(chunk as Buffer)
  return { bytes: Buffer.concat(chunks), entries }
}

async function ignoreRules(dir: string): Promise<(name: string, file: string) => boolean> {
  const text = await readFile(join(dir, '.dockerignore'), 'utf8').catch(() => null)
  if (text === null) return () => false
  const rules = dockerignore().add(text)
  // A "!" rule may bring back a file inside an ignored folder: such a folder is walked, as Docker does.
  const exceptions = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('!'))
    .map((line) => line.slice(1).replace(/^\/+/, '').split(/[*?[]/)[0]!)
  const reopened = (name: string) => exceptions.some((p) => p.startsWith(`${name}/`) || name.startsWith(p))
  return (name, file) => {
    if (!name || ALWAYS.has(name) || !rules.ignores(name)) return false
    return !(reopened(name) && isFolder(file))
  }
}

const isFolder = (file: string) => {
  try {
    return lstatSync(file).isDirectory()
  } catch {
    return false
  }
}
