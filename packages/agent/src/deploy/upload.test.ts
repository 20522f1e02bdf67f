import { mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import tar from 'tar-stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DeployFailure } from './stage.ts'
import { readAppDefinition, unpackTarball } from './upload.ts'

let folder: string

beforeEach(async () => {
  folder = await mkdtemp(join(os.tmpdir(), 'berth-upload-'))
})

afterEach(async () => {
  await rm(folder, { recursive: true, force: true })
})

type Entry = {
  name: string
  body?: string
  type?: 'file' | 'directory' | 'symlink' | 'link'
  linkname?: string
}

/** A .tar.gz of `entries`, in that order, written into the test folder. */
async function tarball(entries: Entry[]): Promise<string> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (chunk: Buffer) => chunks.push(chunk))
  const ended = new Promise((resolve) => pack.on('end', resolve))
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ type: 'file', mode: 0o644, ...header }, body ?? '', (err) =>
        err ? reject(err) : resolve(),
      ),
    )
  }
  pack.finalize()
  await ended
  const file = join(folder, `upload-${Math.random().toString(36).slice(2)}.tar.gz`)
  await writeFile(file, gzipSync(Buffer.concat(chunks)))
  return file
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  )

async function unpack(entries: Entry[]): Promise<{ dest: string; error: unknown }> {
  const dest = join(folder, 'src')
  const error = await unpackTarball(await tarball(entries), dest, new AbortController().signal).then(
    () => null,
    (err: unknown) => err,
  )
  return { dest, error }
}

describe('unpacking an upload', () => {
  it('unpacks files, folders and symlinks that stay inside', async () => {
    const { dest, error } = await unpack([
      { name: 'app/', type: 'directory' },
      { name: './app/main.js', body: 'console.log(1)' },
      { name: 'app/lib/util.js', body: 'util' },
      { name: 'current', type: 'symlink', linkname: 'app/main.js' },
      { name: 'app/lib/up', type: 'symlink', linkname: '../main.js' },
    ])
    expect(error).toBeNull()
    expect(await readFile(join(dest, 'app/lib/util.js'), 'utf8')).toBe('util')
    expect(await readlink(join(dest, 'app/lib/up'))).toBe('../main.js')
    expect(await readFile(join(dest, 'current'), 'utf8')).toBe('console.log(1)')
  })

  it.each([
    ['an absolute name', [{ name: '/etc/berth-test', body: 'x' }], /"\/etc\/berth-test" is an absolute path/],
    [
      'a .. component',
      [{ name: 'app/../../escape', body: 'x' }],
      /"app\/..\/..\/escape" has a ".." component/,
    ],
    [
      'a symlink pointing out',
      [{ name: 'app/link', type: 'symlink' as const, linkname: '../../outside' }],
      /the symlink "app\/link" points outside the upload/,
    ],
    [
      'an absolute symlink',
      [{ name: 'passwd', type: 'symlink' as const, linkname: '/etc/passwd' }],
      /the symlink "passwd" points outside the upload/,
    ],
    [
      'an entry written through a symlink',
      [
        { name: 'here', type: 'symlink' as const, linkname: '.' },
        { name: 'here/evil', type: 'symlink' as const, linkname: '..' },
      ],
      /the entry "here\/evil" lies under the symlink "here"/,
    ],
    [
      'a hard link, even to a file inside',
      [{ name: 'copy', type: 'link' as const, linkname: 'Dockerfile' }],
      /the entry "copy" is a hard link/,
    ],
    [
      'a chain of symlinks that leads out only when followed',
      [
        { name: 'u', type: 'symlink' as const, linkname: '.' },
        { name: 'captain-definition.Dockerfile', type: 'symlink' as const, linkname: 'u/u/u/../../outside' },
      ],
      /the symlink "captain-definition.Dockerfile" points outside the upload/,
    ],
  ])('refuses the whole upload for %s, and leaves nothing', async (_what, bad, reason) => {
    const { dest, error } = await unpack([{ name: 'Dockerfile', body: 'FROM scratch' }, ...bad])
    expect(error).toBeInstanceOf(DeployFailure)
    expect((error as Error).message).toMatch(/^the upload was refused: /)
    expect((error as Error).message).toMatch(reason)
    expect(await exists(dest)).toBe(false)
    expect(await exists(join(folder, 'outside'))).toBe(false)
  })

  it('refuses an upload that unpacks to more than its limit', async () => {
    const file = await tarball([{ name: 'big', body: 'x'.repeat(2000) }])
    const dest = join(folder, 'src')
    const limits = { maxBytes: 1000, maxEntries: 10 }
    await expect(unpackTarball(file, dest, new AbortController().signal, limits)).rejects.toThrow(
      'the upload was refused: it unpacks to more than 1000 bytes',
    )
    expect(await exists(dest)).toBe(false)
  })

  it('refuses what is not a .tar.gz', async () => {
    const file = join(folder, 'junk.tar.gz')
    await writeFile(file, 'not gzip')
    await expect(unpackTarball(file, join(folder, 'src'), new AbortController().signal)).rejects.toThrow(
      /^the upload is not a readable .tar.gz/,
    )
  })
})

describe('what an upload holds', () => {
  const root = () => join(folder, 'src')
  async function upload(files: Record<string, string>) {
    await unpackTarball(
      await tarball(Object.entries(files).map(([name, body]) => ({ name, body }))),
      root(),
      new AbortController().signal,
    )
  }

  it('builds with the dockerfilePath of a captain-definition', async () => {
    await upload({
      'captain-definition': JSON.stringify({ schemaVersion: 2, dockerfilePath: './docker/Dockerfile.prod' }),
      'docker/Dockerfile.prod': 'FROM scratch',
    })
    expect(await readAppDefinition(root())).toEqual({ kind: 'build', dockerfile: 'docker/Dockerfile.prod' })
  })

  it('writes the dockerfileLines of a captain-definition as the Dockerfile', async () => {
    await upload({
      'captain-definition': JSON.stringify({ schemaVersion: 2, dockerfileLines: ['FROM a', 'CMD b'] }),
    })
    const definition = await readAppDefinition(root())
    expect(definition).toEqual({ kind: 'build', dockerfile: 'captain-definition.Dockerfile' })
    expect(await readFile(join(root(), 'captain-definition.Dockerfile'), 'utf8')).toBe('FROM a\nCMD b\n')
  })

  it('writes the dockerfileLines over no symlink of the upload, even one pointing inside', async () => {
    await unpackTarball(
      await tarball([
        {
          name: 'captain-definition',
          body: JSON.stringify({ schemaVersion: 2, dockerfileLines: ['FROM a'] }),
        },
        { name: 'keep.txt', body: 'kept' },
        { name: 'captain-definition.Dockerfile', type: 'symlink', linkname: 'keep.txt' },
      ]),
      root(),
      new AbortController().signal,
    )
    await expect(readAppDefinition(root())).rejects.toThrow(
      "the upload's captain-definition.Dockerfile is a symlink",
    )
    expect(await readFile(join(root(), 'keep.txt'), 'utf8')).toBe('kept')
  })

  it('runs the imageName of a captain-definition', async () => {
    await upload({ 'captain-definition': JSON.stringify({ schemaVersion: 2, imageName: 'nginx:1.27' }) })
    expect(await readAppDefinition(root())).toEqual({ kind: 'image', image: 'nginx:1.27' })
  })

  it('builds with a Dockerfile at the root when there is no captain-definition', async () => {
    await upload({ Dockerfile: 'FROM scratch' })
    expect(await readAppDefinition(root())).toEqual({ kind: 'build', dockerfile: 'Dockerfile' })
  })

  it.each([
    [{ 'index.html': 'hi' }, 'the upload has neither a captain-definition nor a Dockerfile at its root'],
    [{ 'captain-definition': '{' }, 'the captain-definition of the upload is not JSON'],
    [{ 'captain-definition': '{"schemaVersion": 1, "imageName": "x"}' }, /must be \{"schemaVersion": 2/],
    [
      { 'captain-definition': '{"schemaVersion": 2}' },
      /names no dockerfilePath, dockerfileLines or imageName/,
    ],
    [
      { 'captain-definition': '{"schemaVersion": 2, "dockerfilePath": "../Dockerfile"}' },
      /dockerfilePath "..\/Dockerfile" of the captain-definition is outside the upload/,
    ],
    [
      { 'captain-definition': '{"schemaVersion": 2, "dockerfilePath": "nope"}' },
      'the upload has no file "nope" that its captain-definition names',
    ],
  ])('fails clearly for %j', async (files, reason) => {
    await upload(files)
    await expect(readAppDefinition(root())).rejects.toThrow(reason)
  })
})
