import { useCallback, useEffect, useRef, useState } from 'preact/hooks'

// Data for a page: what a fetch resolved to, its error, and a way to fetch it again.

export interface Loaded<T> {
  data: T | undefined
  error: unknown
  loading: boolean
  reload(): Promise<void>
  /** Changes the loaded value in place (an event from the live socket, an action's answer). */
  set(update: (current: T | undefined) => T | undefined): void
}

export function useLoad<T>(fetcher: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [loading, setLoading] = useState(true)
  const latest = useRef(0)
  const reload = useCallback(async () => {
    const mine = ++latest.current
    setLoading(true)
    try {
      const value = await fetcher()
      if (mine === latest.current) {
        setData(value)
        setError(undefined)
      }
    } catch (err) {
      if (mine === latest.current) setError(err)
    } finally {
      if (mine === latest.current) setLoading(false)
    }
  }, deps)
  useEffect(() => {
    void reload()
  }, [reload])
  return { data, error, loading, reload, set: setData }
}

/** Puts an item's newer view in a loaded list, in place (or at its end when it is new). */
export function upsert<T extends { id: string }>(list: T[] | undefined, item: T): T[] | undefined {
  if (!list) return list
  const at = list.findIndex((x) => x.id === item.id)
  if (at < 0) return [...list, item]
  const next = list.slice()
  next[at] = item
  return next
}
