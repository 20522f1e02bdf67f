// A small line chart drawn as SVG, with what it shows said in words beside it: the picture is
// hidden from screen readers, the sentence is not.

export interface Series {
  name: string
  values: number[]
  /** The stroke's class (`.chart .a`, `.chart .b`). */
  tone: 'a' | 'b'
}

interface Props {
  title: string
  series: Series[]
  /** The top of the scale; the largest value when that is higher. */
  max: number
  format: (n: number) => string
}

const W = 300
const H = 80

export function LineChart({ title, series, max, format }: Props) {
  const top = Math.max(max, ...series.flatMap((s) => s.values)) || 1
  const length = Math.max(2, ...series.map((s) => s.values.length))
  const summary = series.map((s) => describe(s, format)).join('; ')
  return (
    <figure class="chart">
      <figcaption>
        <strong>{title}</strong>
        <span class="chart-summary">{summary}</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" aria-hidden="true" focusable="false">
        <line class="axis" x1="0" y1={H} x2={W} y2={H} />
        {series.map((s) => (
          <polyline
            key={s.name}
            class={s.tone}
            points={s.values
              .map((v, i) => `${((i / (length - 1)) * W).toFixed(1)},${(H - (v / top) * H).toFixed(1)}`)
              .join(' ')}
          />
        ))}
      </svg>
    </figure>
  )
}

function describe({ name, values }: Series, format: (n: number) => string): string {
  if (values.length === 0) return `${name}: no samples yet`
  const now = values[values.length - 1] as number
  return `${name} ${format(now)} now, peak ${format(Math.max(...values))} over ${values.length} samples`
}
