import type { ComponentChildren } from 'preact'
import { ActionButton } from './busy.tsx'

/**
 * A table of rows under column headings, scrolling sideways inside its own box on a narrow
 * screen; a column given as `false` is left out (an actions column for those who may act).
 * With no rows it is the `empty` sentence instead. `caption` names it for screen readers.
 */
export function Table({
  columns,
  empty,
  caption,
  children,
}: {
  columns: (string | false)[]
  empty: string
  caption?: string
  children: ComponentChildren[]
}) {
  if (children.length === 0) return <p class="muted">{empty}</p>
  return (
    <div class="table-wrap">
      <table>
        {caption && <caption class="visually-hidden">{caption}</caption>}
        <thead>
          <tr>
            {columns.filter(Boolean).map((column) => (
              <th key={column} scope="col">
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  )
}

/** The Remove button of a row, named for what it removes. */
export function RemoveButton({ what, onRemove }: { what: string; onRemove: () => Promise<unknown> }) {
  return (
    <ActionButton class="danger" onClick={onRemove} aria-label={`Remove ${what}`}>
      Remove
    </ActionButton>
  )
}
