import { useId, useState } from 'preact/hooks'

/**
 * A value to take away (a token shown once, a command): read-only, selected on focus, with a copy
 * button. Where the page has no clipboard (plain http to another host) the selected text is there
 * to copy by hand.
 */
export function CopyField({
  label,
  value,
  multiline = false,
}: {
  label: string
  value: string
  multiline?: boolean
}) {
  const [copied, setCopied] = useState(false)
  const id = useId()
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value)
      setCopied(true)
    } catch {
      setCopied(false)
    }
  }
  const select = (event: FocusEvent) => (event.currentTarget as HTMLInputElement).select()
  return (
    <div class="copy">
      <div class="copy-value">
        <label for={id}>{label}</label>
        {multiline ? (
          <textarea
            id={id}
            readOnly
            rows={Math.min(8, value.split('\n').length + 1)}
            value={value}
            onFocus={select}
          />
        ) : (
          <input id={id} readOnly value={value} onFocus={select} />
        )}
      </div>
      <button type="button" onClick={copy} aria-label={`Copy ${label}`}>
        {copied ? 'Copied' : 'Copy'}
      </button>
    </div>
  )
}
