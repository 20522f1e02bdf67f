import type { ButtonHTMLAttributes, ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { ErrorNote } from './error.tsx'

type ButtonProps = Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'onClick'> & {
  onClick: () => Promise<unknown>
  children: ComponentChildren
}

/**
 * A button for an action that calls the API: disabled while it runs, its error shown beside it.
 * The error goes once the action is tried again.
 */
export function ActionButton({ onClick, children, ...rest }: ButtonProps) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(undefined)
  const run = async () => {
    setBusy(true)
    setError(undefined)
    try {
      await onClick()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <>
      <button
        type="button"
        {...rest}
        disabled={busy || Boolean(rest.disabled)}
        aria-busy={busy}
        onClick={run}
      >
        {children}
      </button>
      <ErrorNote error={error} />
    </>
  )
}

/** Submits a form through an async handler; its error is shown under the form. */
export function useSubmit(handler: (form: FormData) => Promise<unknown>) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(undefined)
  const onSubmit = async (event: SubmitEvent) => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      await handler(new FormData(event.currentTarget as HTMLFormElement))
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return { busy, error, onSubmit }
}
