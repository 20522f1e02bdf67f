import { describe, expect, test } from 'vitest'
import { localPath } from '../git-container.ts'
import { gitCommand, refName } from './git.ts'

describe('git commands', () => {
  test('each action is one git command with its names after the options', () => {
    expect(gitCommand({ action: 'init' })).toEqual(['init'])
    expect(gitCommand({ action: 'head' })).toEqual(['log', '-1', '--format=%H%n%s'])
    expect(gitCommand({ action: 'checkout', branch: 'main' })).toEqual(['checkout', 'main', '--'])
    expect(gitCommand({ action: 'checkout', branch: 'feature/x', create: true })).toEqual([
      'checkout',
      '-b',
      'feature/x',
      '--',
    ])
    expect(gitCommand({ action: 'pull' })).toEqual(['pull', '--ff-only', '--no-rebase'])
    expect(gitCommand({ action: 'pull', remote: 'upstream', branch: 'main' })).toEqual([
      'pull',
      '--ff-only',
      '--no-rebase',
      'upstream',
      'main',
    ])
  })

  test('a checkout needs a branch; a branch pulled without its remote is pulled from origin', () => {
    expect(() => gitCommand({ action: 'checkout' })).toThrow(/needs a branch/)
    expect(gitCommand({ action: 'pull', branch: 'main' })).toEqual([
      'pull',
      '--ff-only',
      '--no-rebase',
      'origin',
      'main',
    ])
  })

  test('names that git could read as options or that break its ref rules are refused', () => {
    for (const name of ['main', 'feature/x-1', 'v1.2', 'release_2024', 'a@b'])
      expect(refName('branch', name)).toBe(name)
    for (const name of [
      '-f',
      '--upload-pack=touch /tmp/x',
      'a..b',
      'a b',
      'a~1',
      'a^',
      'a:b',
      'a?',
      'a*',
      'a[',
      'a\\b',
      '/a',
      'a/',
      'a//b',
      'a.',
      '.a',
      'a/.b',
      'a.lock',
      '@',
      'a@{1}',
      'a\nb',
    ]) {
      expect(() => refName('branch', name), name).toThrow(/not a valid branch name/)
    }
    expect(() => gitCommand({ action: 'pull', remote: 'file:///etc' })).toThrow(/not a valid remote name/)
  })
})

describe('localPath', () => {
  test('file URLs and plain paths are on this host; network URLs are not', () => {
    expect(localPath('file:///srv/repo.git')).toBe('/srv/repo.git')
    expect(localPath('file://localhost/srv/my%20repo')).toBe('/srv/my repo')
    expect(localPath('/srv/repo.git')).toBe('/srv/repo.git')
    expect(localPath('../repo.git')).toBe('../repo.git')
    expect(localPath('./a:b')).toBe('./a:b')
    expect(localPath('https://example.com/repo.git')).toBeNull()
    expect(localPath('ssh://git@example.com/repo.git')).toBeNull()
    expect(localPath('git@example.com:me/repo.git')).toBeNull()
    expect(localPath('ext::sh -c touch')).toBeNull()
  })
})
