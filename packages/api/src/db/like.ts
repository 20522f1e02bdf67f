import { type Placeholder, type SQL, type SQLWrapper, sql } from 'drizzle-orm'

/** `text` with LIKE's `%`, `_` and `\` escaped, so that each matches only itself. */
const escaped = (text: string) => text.replace(/[\\%_]/g, (m) => `\\${m}`)

/** A LIKE pattern that matches strings starting with `prefix` and nothing else. */
export const likePrefix = (prefix: string) => `${escaped(prefix)}%`

/** A LIKE pattern that matches strings containing `text` anywhere (ASCII case ignored). */
export const likeContaining = (text: string) => `%${escaped(text)}%`

/** `column LIKE pattern ESCAPE '\'`: SQLite has no escape character unless a LIKE names one. */
export const likeEscaped = (column: SQLWrapper, pattern: string | Placeholder): SQL =>
  sql`${column} like ${pattern} escape '\\'`
