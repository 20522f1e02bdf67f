import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { ActionButton } from './busy.tsx'

/**
 * A button for an action that cannot be undone: the first press asks, in place, and only the
 * second (a button that names what goes) runs it.
 */
export function ConfirmButton({
  label,
  confirm,
  onConfirm,
  children,
}: {
  /** The accessible name of the first button (`Remove web-1`). */
  label: string
  /** The button that runs it (`Remove web-1 for good`). */
  confirm: string
  onConfirm: () => Promise<unknown>
  children: ComponentChildren
}) {
  const [asking, setAsking] = useState(false)
  if (!asking) {
    return (
      <button type="button" class="danger" aria-label={label} onClick={() => setAsking(true)}>
        {children}
      </button>
    )
  }
  return (
    <span class="confirm">
      <ActionButton class="danger" onClick={onConfirm}>
        {confirm}
      </ActionButton>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  )
}
