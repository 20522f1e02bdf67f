import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { confine, mountOf } from './volume-paths.ts'

const mounts = [
  {
    Type: 'volume',
    Name: 'data',
    Source: '/var/lib/docker/volumes/data/_data',
    Destination: '/srv',
    RW: true,
  },
  { Type: 'bind', Source: '/home/me/app', Destination: '/srv/app', RW: true },
  { Type: 'tmpfs', Source: '', Destination: '/tmp', RW: true },
]

describe('mountOf', () => {
  test('the mount whose destination is the longest prefix of the path holds it', () => {
    expect(mountOf(mounts, '/srv/app/src')).toEqual({
      source: '/home/me/app',
      destination: '/srv/app',
      relative: 'src',
    })
    expect(mountOf(mounts, '/srv/application')).toMatchObject({
      source: mounts[0]!.Source,
      relative: 'application',
    })
    expect(mountOf(mounts, '/srv')).toMatchObject({ source: mounts[0]!.Source, relative: '' })
    expect(mountOf(mounts, '/srv/app/')).toMatchObject({ source: '/home/me/app', relative: '' })
  })

  test('a path on no mount, or on a tmpfs, has no host directory', () => {
    expect(mountOf(mounts, '/etc')).toBeNull()
    expect(mountOf(mounts, '/sr')).toBeNull()
    expect(mountOf(mounts, '/tmp/x')).toBeNull()
  })

  test('.. is resolved in the container, so it never climbs out of a mount on the host', () => {
    expect(mountOf(mounts, '/srv/app/../../etc')).toBeNull()
    expect(mountOf(mounts, '/srv/app/../x')).toMatchObject({ source: mounts[0]!.Source, relative: 'x' })
    expect(mountOf(mounts, '/srv/../../srv/app/a/./b')).toMatchObject({
      source: '/home/me/app',
      relative: 'a/b',
    })
  })

  test('a relative path is refused', () => {
    expect(() => mountOf(mounts, 'srv/app')).toThrow(/absolute/)
  })
})

describe('confine', () => {
  const base = realpathSync(mkdtempSync(join(os.tmpdir(), 'berth-confine-')))
  const volume = join(base, 'volume')
  const outside = join(base, 'outside')
  mkdirSync(join(volume, 'repo', 'src'), { recursive: true })
  mkdirSync(outside)
  symlinkSync(outside, join(volume, 'out'))
  symlinkSync('..', join(volume, 'repo', 'src', 'up'))
  afterAll(() => rmSync(base, { recursive: true, force: true }))

  test('a path inside the volume is its real path', async () => {
    expect(await confine(volume, 'repo/src')).toBe(join(volume, 'repo', 'src'))
    expect(await confine(volume, '')).toBe(volume)
    // A symlink that stays inside is followed.
    expect(await confine(volume, 'repo/src/up')).toBe(join(volume, 'repo'))
  })

  test('a path that does not exist yet is kept below the real part that does', async () => {
    expect(await confine(volume, 'repo/new/deeper')).toBe(join(volume, 'repo', 'new', 'deeper'))
  })

  test('a symlink leading out of the volume is refused, also below it', async () => {
    await expect(confine(volume, 'out')).rejects.toThrow(/leads out/)
    await expect(confine(volume, 'out/not-yet')).rejects.toThrow(/leads out/)
  })

  test('.. leading out of the volume is refused', async () => {
    await expect(confine(volume, '../outside')).rejects.toThrow(/leads out/)
    await expect(confine(volume, 'repo/../../outside')).rejects.toThrow(/leads out/)
  })
})
