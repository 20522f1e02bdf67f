import { useState } from 'preact/hooks'

/** Copies `value` to the clipboard; says so for a moment, or that the browser refused. */
export function CopyButton({ value, label }: { value: string; label: string }) {
  const [said, setSaid] = useState('')
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value)
      setSaid('Copied')
    } catch {
      setSaid('Copy refused by the browser: select the text instead')
    }
  }
  return (
    <span class="copy">
      <button type="button" onClick={copy} aria-label={label}>
        Copy
      </button>
      <span role="status" class="muted">
        {said}
      </span>
    </span>
  )
}

/** A value shown once (a secret, a URL to hand on), in full, with its copy button. */
export function ShownOnce({ name, value }: { name: string; value: string }) {
  return (
    <div class="once">
      <span class="muted">{name}</span>
      <code class="secret">{value}</code>
      <CopyButton value={value} label={`Copy ${name.toLowerCase()}`} />
    </div>
  )
}
