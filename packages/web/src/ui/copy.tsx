import { useState } from 'preact/hooks'

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
