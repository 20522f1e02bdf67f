import type { ComponentChildren } from 'preact'
import { useRef } from 'preact/hooks'
import { useSubmit } from './busy.tsx'
import { ErrorNote } from './error.tsx'

/**
 * A one-line form under a list (add a variable, a domain, a webhook): its fields, one submit
 * button, its error below; emptied once the action succeeded, kept for a retry when it failed.
 */
export function InlineForm({
  submit,
  onSubmit,
  children,
}: {
  submit: string
  onSubmit: (form: FormData) => Promise<unknown>
  children: ComponentChildren
}) {
  const form = useRef<HTMLFormElement>(null)
  const {
    busy,
    error,
    onSubmit: handle,
  } = useSubmit(async (data) => {
    await onSubmit(data)
    form.current?.reset()
  })
  return (
    <form ref={form} onSubmit={handle} class="row-form">
      {children}
      <button type="submit" disabled={busy}>
        {submit}
      </button>
      <ErrorNote error={error} />
    </form>
  )
}
