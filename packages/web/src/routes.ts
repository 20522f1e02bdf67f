import type { ComponentType } from 'preact'

// The pages and the paths they answer, each loaded on first visit (a chunk of its own), so the
// first page downloads only what it shows.

export type PageProps = { params: Record<string, string> }
type PageModule = { default: ComponentType<PageProps> }

export interface Route {
  pattern: string
  title: string
  load: () => Promise<PageModule>
}

export const routes: Route[] = [
  { pattern: '/servers', title: 'Servers', load: () => import('./pages/servers.tsx') },
  { pattern: '/servers/:id', title: 'Server', load: () => import('./pages/server.tsx') },
  { pattern: '/containers', title: 'Containers', load: () => import('./pages/containers.tsx') },
  { pattern: '/tokens', title: 'API tokens', load: () => import('./pages/people/tokens.tsx') },
  { pattern: '/users', title: 'Users', load: () => import('./pages/people/users.tsx') },
  { pattern: '/audit', title: 'Audit log', load: () => import('./pages/people/audit.tsx') },
  {
    pattern: '/servers/:sid/containers/:cid',
    title: 'Container',
    load: () => import('./pages/container.tsx'),
  },
  { pattern: '/apps', title: 'Apps', load: () => import('./pages/apps.tsx') },
  { pattern: '/apps/new', title: 'Create an app', load: () => import('./pages/app-new.tsx') },
  { pattern: '/apps/:id', title: 'App', load: () => import('./pages/app.tsx') },
]
