import { useEffect, useState } from 'preact/hooks'

/** The time now, renewed every `ms`, so "12 s ago" keeps counting on a page left open. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms)
    return () => clearInterval(timer)
  }, [ms])
  return now
}
