import { describe, expect, test } from 'vitest'
import { type Env, EnvError, loadEnv } from './env.ts'

// Only the shape of the bindings is checked when the env is read; nothing here is called.
const d1 = { prepare() {}, batch() {} } as unknown as D1Database
const base = {
  AGENT_HUB: { idFromName() {} },
  BERTH_JWT_SECRET: 'j'.repeat(32),
  BERTH_SECRET_KEY: 's'.repeat(32),
} as unknown as Env

function envError(env: Env): string {
  try {
    loadEnv(env)
  } catch (err) {
    expect(err).toBeInstanceOf(EnvError)
    return (err as EnvError).message
  }
  throw new Error('the env was accepted')
}

describe('the database a worker opens', () => {
  test('DATABASE_URL chooses the libSQL server, with its token, over the D1 binding', () => {
    const { database } = loadEnv({
      ...base,
      DB: d1,
      DATABASE_URL: 'libsql://berth-example.turso.io',
      DATABASE_AUTH_TOKEN: 'token-1',
    })
    expect(database).toEqual({
      driver: 'libsql',
      url: 'libsql://berth-example.turso.io',
      authToken: 'token-1',
    })
  })

  test('without DATABASE_URL (or with it empty) the D1 binding DB', () => {
    expect(loadEnv({ ...base, DB: d1 }).database).toEqual({ driver: 'd1', binding: d1 })
    expect(loadEnv({ ...base, DB: d1, DATABASE_URL: '' }).database.driver).toBe('d1')
  })

  test('neither is an EnvError that names both', () => {
    expect(envError(base)).toMatch(/DB: not bound .*DATABASE_URL/)
  })

  test('a URL of another scheme is an EnvError that names DATABASE_URL, not its value', () => {
    const message = envError({ ...base, DB: d1, DATABASE_URL: 'file:/srv/secret-name.db' })
    expect(message).toContain('DATABASE_URL')
    expect(message).not.toContain('secret-name')
  })
})
