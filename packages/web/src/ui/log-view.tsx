import type { ComponentChildren } from 'preact'
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import type { LogLine } from './log-buffer.ts'

// A virtualised list of log lines: only the rows in sight (and a few either side) are in the DOM,
// all of one height, so a buffer of 10,000 lines costs what 40 do. It sticks to the end while the
// reader is there; once they scroll up, the line they read stays in place as lines come and go.

const ROW_PX = 20
const OVERSCAN = 10

interface Props {
  count: number
  line: (i: number) => LogLine
  query: string
  /** Changes whenever the lines do, so a sticking view moves to the new end. */
  version: number
  label: string
}

export function LogView({ count, line, query, version, label }: Props) {
  const ref = useRef<HTMLElement>(null)
  const [top, setTop] = useState(0)
  const [height, setHeight] = useState(400)
  const [sticking, setSticking] = useState(true)
  // The line at the top of the view while the reader is scrolled up, kept there as lines come and go.
  const anchor = useRef<{ n: number; offset: number } | null>(null)

  useEffect(() => {
    const el = ref.current
    if (!el) return
    const observer = new ResizeObserver(() => setHeight(el.clientHeight))
    observer.observe(el)
    return () => observer.disconnect()
  }, [])
  useLayoutEffect(() => {
    const el = ref.current
    if (!el) return
    if (sticking) {
      el.scrollTop = el.scrollHeight
      return
    }
    const held = anchor.current
    if (!held || count === 0) return
    const want = firstAtLeast(count, line, held.n) * ROW_PX + held.offset
    if (Math.abs(el.scrollTop - want) < 1) return
    el.scrollTop = want
    setTop(el.scrollTop)
  }, [version, count, sticking])

  const onScroll = () => {
    const el = ref.current
    if (!el) return
    const atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_PX
    const i = Math.floor(el.scrollTop / ROW_PX)
    anchor.current = !atEnd && i < count ? { n: line(i).n, offset: el.scrollTop - i * ROW_PX } : null
    setTop(el.scrollTop)
    setSticking(atEnd)
  }
  const inSight = Math.ceil(height / ROW_PX)
  // While sticking the window is the end, whatever scrollTop says before the scroll lands.
  const first = Math.max(0, (sticking ? count - inSight : Math.floor(top / ROW_PX)) - OVERSCAN)
  const last = Math.min(count, first + inSight + 2 * OVERSCAN)
  const rows: ComponentChildren[] = []
  for (let i = first; i < last; i++) {
    const l = line(i)
    rows.push(
      <div key={l.n} class={`log-line ${l.stream}`} style={{ top: `${i * ROW_PX}px` }}>
        {l.stream === 'stderr' && <span class="visually-hidden">stderr: </span>}
        {highlight(l.text, query)}
      </div>,
    )
  }
  return (
    <>
      <section
        ref={ref}
        class="log-view mono"
        aria-label={label}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard
        tabIndex={0}
        onScroll={onScroll}
      >
        <div class="log-lines" style={{ height: `${count * ROW_PX}px` }}>
          {rows}
        </div>
      </section>
      {!sticking && (
        <button type="button" class="log-latest" onClick={() => setSticking(true)}>
          Jump to the latest line
        </button>
      )}
    </>
  )
}

/** The position of the first line numbered `n` or later (lines are in order of their numbers). */
function firstAtLeast(count: number, line: (i: number) => LogLine, n: number): number {
  let lo = 0
  let hi = count
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (line(mid).n < n) lo = mid + 1
    else hi = mid
  }
  return Math.min(lo, count - 1)
}

/** The text with each occurrence of `query` (case-insensitive) marked. */
function highlight(text: string, query: string): ComponentChildren {
  if (!query) return text
  const lower = text.toLowerCase()
  const needle = query.toLowerCase()
  const parts: ComponentChildren[] = []
  let at = 0
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
    parts.push(text.slice(at, i), <mark>{text.slice(i, i + needle.length)}</mark>)
    at = i + needle.length
  }
  parts.push(text.slice(at))
  return parts
}
