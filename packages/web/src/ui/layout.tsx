import type { ComponentChildren } from 'preact'
import { liveState } from '../live.ts'
import { Link } from '../router.tsx'
import { isAdmin, session, signOut } from '../session.ts'

/** The frame of every signed-in page: the navigation, who is signed in, and the live socket's state. */
export function Layout({ children }: { children: ComponentChildren }) {
  const user = session.value?.user
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href="/servers" class="brand">
          Berth
        </Link>
        <nav aria-label="Main">
          <Link href="/servers">Servers</Link>
          <Link href="/containers">Containers</Link>
          <Link href="/apps">Apps</Link>
          <Link href="/tokens">Tokens</Link>
          {isAdmin() && <Link href="/users">Users</Link>}
          {isAdmin() && <Link href="/audit">Audit</Link>}
        </nav>
        <div class="who">
          <span title={user?.role}>{user?.email}</span>
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      {liveState.value === 'reconnecting' && (
        <p class="banner" role="status">
          Live updates lost their connection; reconnecting…
        </p>
      )}
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  )
}
