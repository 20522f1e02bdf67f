import type { BatchItem, BatchResponse } from 'drizzle-orm/batch'
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core'
import type * as schema from './schema.ts'

/**
 * The database as services see it: drizzle over libSQL on Node, over D1 or libSQL on Workers.
 * Writes that must land together go through `batch`, which both drivers run atomically.
 */
export type Db = BaseSQLiteDatabase<'async', unknown, typeof schema> & {
  batch<U extends BatchItem<'sqlite'>, T extends Readonly<[U, ...U[]]>>(batch: T): Promise<BatchResponse<T>>
}

/** Values bound in one statement, under D1's limit of 100. */
export const BOUND_VALUES = 90

/** `items` in slices that each fit one statement's bound values. */
export function boundSlices<T>(items: readonly T[], perItem = 1): T[][] {
  const size = Math.max(1, Math.floor(BOUND_VALUES / perItem))
  const slices: T[][] = []
  for (let i = 0; i < items.length; i += size) slices.push(items.slice(i, i + size))
  return slices
}

/**
 * What `build` makes of a database, made once per database: for statements that run on most
 * requests, where building the query each time cost as much as running it.
 */
export function perDatabase<T>(build: (db: Db) => T): (db: Db) => T {
  const built = new WeakMap<Db, T>()
  return (db) => {
    let value = built.get(db)
    if (value === undefined) {
      value = build(db)
      built.set(db, value)
    }
    return value
  }
}

export * as schema from './schema.ts'
