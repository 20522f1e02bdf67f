import { useId, useState } from 'preact/hooks'

/** Copies `text` to the clipboard, and says so; `label` names what it copies for a screen reader. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState<boolean | null>(null)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text)
      setCopied(true)
    } catch {
      setCopied(false)
    }
  }
  return (
    <>
      <button type="button" aria-label={label} onClick={copy}>
        Copy
      </button>
      <span role="status" class="muted">
        {copied === true ? 'Copied' : copied === false ? 'Select and copy it by hand' : ''}
      </span>
    </>
  )
}

/**
 * A value to take away (a token shown once): read-only, selected on focus, with a copy button.
 * Where the page has no clipboard (plain http to another host) the selected text is there to copy
 * by hand.
 */
export function CopyField({ label, value }: { label: string; value: string }) {
  const id = useId()
  const select = (event: FocusEvent) => (event.currentTarget as HTMLInputElement).select()
  return (
    <div class="copy">
      <div class="copy-value">
        <label for={id}>{label}</label>
        <input id={id} readOnly value={value} onFocus={select} />
      </div>
      <CopyButton text={value} label={`Copy ${label}`} />
    </div>
  )
}
