import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { match, navigate, path } from './router.tsx'
import { type PageProps, type Route, routes } from './routes.ts'
import { session } from './session.ts'
import { ErrorNote } from './ui/error.tsx'
import { Layout } from './ui/layout.tsx'
import './styles.css'
import SignIn from './pages/signin.tsx'

function App() {
  if (!session.value) return <SignIn />
  const pathname = path.value.split('?')[0]!
  if (pathname === '/' || pathname === '/signin') {
    navigate('/servers', true)
    return null
  }
  for (const route of routes) {
    const params = match(route.pattern, pathname)
    if (params) return <Layout>{<Page route={route} params={params} />}</Layout>
  }
  return (
    <Layout>
      <h1>Not found</h1>
      <p>There is no page at {pathname}.</p>
    </Layout>
  )
}

const loaded = new Map<Route, PageModule['default']>()
type PageModule = { default: (props: PageProps) => preact.JSX.Element | null }

/** A route's page, loaded on first visit. */
function Page({ route, params }: { route: Route; params: Record<string, string> }) {
  const [, setTick] = useState(0)
  const [error, setError] = useState<unknown>(undefined)
  const Component = loaded.get(route)
  useEffect(() => {
    document.title = `${route.title} · Berth`
    if (loaded.has(route)) return
    route
      .load()
      .then((module) => {
        loaded.set(route, module.default as PageModule['default'])
        setTick((n) => n + 1)
      })
      .catch(setError)
  }, [route])
  if (error) return <ErrorNote error={error} />
  return Component ? <Component params={params} /> : <p class="muted">Loading…</p>
}

render(<App />, document.getElementById('app')!)
