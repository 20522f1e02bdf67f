import { createClient, type Client as Db } from '@libsql/client'

/** SQL against the database file an API under test holds open; the file is found at the first query. */
export function databaseFile(fileUrl: () => string) {
  let db: Db | undefined
  return {
    async sql<T>(statement: string, args: (string | number)[] = []): Promise<T[]> {
      if (!db) {
        db = createClient({ url: fileUrl() })
        // The API holds the same file open; wait for its writes rather than fail with SQLITE_BUSY.
        await db.execute('pragma busy_timeout = 5000')
      }
      return (await db.execute({ sql: statement, args })).rows as T[]
    },
    close: () => db?.close(),
  }
}
