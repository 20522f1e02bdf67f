import { signal } from '@preact/signals'
import type { AnchorHTMLAttributes, ComponentChildren } from 'preact'

// History routing: the path is a signal, links push it, and the back button pops it.

export const path = signal(location.pathname + location.search)

addEventListener('popstate', () => {
  path.value = location.pathname + location.search
})

export function navigate(to: string, replace = false): void {
  if (to === path.value) return
  history[replace ? 'replaceState' : 'pushState'](null, '', to)
  path.value = to
  scrollTo(0, 0)
}

/** The parameters of `pattern` (`/servers/:id`) in `pathname`, or null when it does not match. */
export function match(pattern: string, pathname: string): Record<string, string> | null {
  const want = pattern.split('/')
  const got = pathname.split('?')[0]!.split('/')
  if (want.length !== got.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < want.length; i++) {
    const part = want[i]!
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(got[i]!)
    else if (part !== got[i]) return null
  }
  return params
}

/** A query parameter of the current path. */
export const queryParam = (name: string): string | null =>
  new URLSearchParams(path.value.split('?')[1] ?? '').get(name)

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren }

/** An anchor that navigates in the page; a modified click (new tab) is left to the browser. */
export function Link({ href, children, ...rest }: LinkProps) {
  const onClick = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    event.preventDefault()
    navigate(href)
  }
  return (
    <a href={href} onClick={onClick} aria-current={path.value === href ? 'page' : undefined} {...rest}>
      {children}
    </a>
  )
}
