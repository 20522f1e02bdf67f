import { signal } from '@preact/signals'

// Who is signed in. The session token lives in this tab's sessionStorage (gone when the tab
// closes, never in localStorage or a URL) and goes out only as a bearer header or WebSocket
// subprotocol: no cookie carries it, so no other site can make the browser send it (no CSRF).

export interface User {
  id: string
  email: string
  name: string | null
  role: 'admin' | 'member' | 'viewer'
}

export interface Session {
  token: string
  expires_at: string
  user: User
}

const KEY = 'berth.session'

function stored(): Session | null {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null
    return session && Date.parse(session.expires_at) > Date.now() ? session : null
  } catch {
    return null
  }
}

export const session = signal<Session | null>(stored())

export function signIn(next: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(next))
  session.value = next
}

export function signOut(): void {
  sessionStorage.removeItem(KEY)
  session.value = null
}

/** The signed-in user may change things (member or admin). */
export const canWrite = (): boolean => session.value?.user.role !== 'viewer'
export const isAdmin = (): boolean => session.value?.user.role === 'admin'
