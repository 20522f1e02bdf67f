/**
 * A small line chart of one series, drawn as SVG by hand (no chart library on the page); `label`
 * names it for screen readers, which get the last value in it too.
 */
export function Sparkline({
  values,
  label,
  max,
  format,
}: {
  values: number[]
  label: string
  max?: number
  format: (n: number) => string
}) {
  const width = 240
  const height = 48
  const top = Math.max(max ?? 0, ...values, 1e-9)
  const step = values.length > 1 ? width / (values.length - 1) : 0
  const points = values
    .map((v, i) => `${(i * step).toFixed(1)},${(height - (v / top) * (height - 2) - 1).toFixed(1)}`)
    .join(' ')
  const last = values.at(-1)
  return (
    <figure class="spark">
      <figcaption>
        {label}: <strong>{last === undefined ? '–' : format(last)}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" height={height} role="img" aria-label={label}>
        <rect x="0" y="0" width={width} height={height} class="spark-bg" />
        {values.length > 1 && <polyline points={points} class="spark-line" />}
      </svg>
    </figure>
  )
}
