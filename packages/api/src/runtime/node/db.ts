import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Client, createClient } from '@libsql/client'
import { drizzle } from 'drizzle-orm/libsql'
import { migrate } from 'drizzle-orm/libsql/migrator'
import type { Db } from '../../db/index.ts'
import * as schema from '../../db/schema.ts'
import { ownerOnlyFiles } from './config.ts'

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../drizzle', import.meta.url))

/** Opens the libSQL database (a `file:` path or a `libsql://` server) and applies pending migrations. */
export async function openDatabase(url: string, authToken?: string): Promise<{ db: Db; client: Client }> {
  if (url.startsWith('file:')) ownerOnlyDatabase(resolve(url.slice(5)))
  const client = createClient({ url, authToken })
  if (url.startsWith('file:')) {
    // WAL lets reads run beside the writer; NORMAL syncs at checkpoints instead of on every commit.
    await client.execute('pragma journal_mode = wal')
    await client.execute('pragma synchronous = normal')
    await client.execute('pragma busy_timeout = 5000')
  }
  await client.execute('pragma foreign_keys = on')
  const db = drizzle(client, { schema })
  await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER })
  return { db, client }
}

/**
 * The database file, made before SQLite opens it so that it is 0600 from the start: SQLite gives
 * its -wal, -shm and -journal files the database file's mode. Files from before are tightened.
 */
function ownerOnlyDatabase(path: string): void {
  // A folder that exists is left as it is unless it is the data folder, which loadConfig tightens.
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  if (!existsSync(path)) writeFileSync(path, '', { mode: 0o600, flag: 'wx' })
  ownerOnlyFiles([path, `${path}-wal`, `${path}-shm`, `${path}-journal`])
}
