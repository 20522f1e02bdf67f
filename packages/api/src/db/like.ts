import { type Placeholder, type SQL, type SQLWrapper, sql } from 'drizzle-orm'

/** A LIKE pattern that matches strings starting with `prefix` and nothing else: its `%`, `_` and `\` are escaped. */
export const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, (m) => `\\${m}`)}%`

/** `column LIKE pattern ESCAPE '\'`: SQLite has no escape character unless a LIKE names one. */
export const likeEscaped = (column: SQLWrapper, pattern: string | Placeholder): SQL =>
  sql`${column} like ${pattern} escape '\\'`
