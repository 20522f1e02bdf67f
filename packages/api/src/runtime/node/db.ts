import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Client, createClient } from '@libsql/client'
import { drizzle } from 'drizzle-orm/libsql'
import { migrate } from 'drizzle-orm/libsql/migrator'
import type { Db } from '../../db/index.ts'
import * as schema from '../../db/schema.ts'

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../drizzle', import.meta.url))

/** Opens the libSQL database (a `file:` path or a `libsql://` server) and applies pending migrations. */
export async function openDatabase(url: string, authToken?: string): Promise<{ db: Db; client: Client }> {
  if (url.startsWith('file:')) mkdirSync(dirname(resolve(url.slice(5))), { recursive: true })
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
