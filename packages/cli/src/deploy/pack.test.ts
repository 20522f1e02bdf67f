import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { UsageError } from '../command.ts'
import { packFolder } from './pack.ts'

const made: string[] = []
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-pack-'))
  made.push(dir)
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  return dir
}

/** The names in a .tar.gz as GNU tar lists them. */
function listed(bytes: Buffer): string[] {
  const file = join(made[0]!, '..', `${made[0]!.split('/').pop()}.tar.gz`)
  writeFileSync(file, bytes)
  made.push(file)
  return execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).split('\n').filter(Boolean).sort()
}

describe('packFolder', () => {
  test('leaves out what .dockerignore names, but not the Dockerfile', async () => {
    const dir = folder({
      Dockerfile: 'FROM scratch\n',
      'index.html': 'hi\n',
      '.env': 'SECRET=1\n',
      'node_modules/a/index.js': '\n',
      'docs/keep.md': '\n',
      'docs/drop.md': '\n',
      '.dockerignore': '.env\nnode_modules\nDockerfile\ndocs/*\n!docs/keep.md\n',
    })
    const packed = await packFolder(dir)
    expect(listed(packed.bytes)).toEqual([
      '.',
      '.dockerignore',
      'Dockerfile',
      'docs',
      'docs/keep.md',
      'index.html',
    ])
    expect(packed.entries).toBe(6)
  })

  test('packs everything without a .dockerignore', async () => {
    const dir = folder({ Dockerfile: 'FROM scratch\n', 'a/b.txt': 'b\n' })
    expect(listed((await packFolder(dir)).bytes)).toEqual(['.', 'Dockerfile', 'a', 'a/b.txt'])
  })

  test('refuses a path that is not a folder as a usage error', async () => {
    const dir = folder({ Dockerfile: 'FROM scratch\n' })
    await expect(packFolder(join(dir, 'Dockerfile'))).rejects.toBeInstanceOf(UsageError)
  })
})
