// `npm run db:migrate`: applies the migrations of packages/api/drizzle to the libSQL database at
// DATABASE_URL (with DATABASE_AUTH_TOKEN), as the Node API does on start; for a libSQL server
// that a worker reaches over HTTP, which applies none itself.
import { openDatabase } from '../packages/api/src/runtime/node/db.ts'

const url = process.env.DATABASE_URL
if (!url) {
  console.error(
    'db:migrate: set DATABASE_URL (libsql://…, https://… or file:…) and, for a server, DATABASE_AUTH_TOKEN',
  )
  process.exitCode = 1
} else {
  try {
    const { client } = await openDatabase(url, process.env.DATABASE_AUTH_TOKEN || undefined)
    client.close()
    console.log('db:migrate: the database is up to date')
  } catch (err) {
    // The client's message names the fault (for one, the server's 401), never the token.
    console.error(`db:migrate: ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
  }
}
