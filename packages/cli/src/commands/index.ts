import type { Command } from '../command.ts'

/** A command file, imported only when one of its commands runs (or help and completion list them). */
export type CommandModule = () => Promise<{ commands: Command[] }>

const apps: CommandModule = () => import('./apps.ts')
const auth: CommandModule = () => import('./auth.ts')
const completion: CommandModule = () => import('./completion.ts')
const containers: CommandModule = () => import('./containers.ts')
const domains: CommandModule = () => import('./domains.ts')
const env: CommandModule = () => import('./env.ts')
const open: CommandModule = () => import('./open.ts')
const servers: CommandModule = () => import('./servers.ts')
const tokens: CommandModule = () => import('./tokens.ts')
const users: CommandModule = () => import('./users.ts')
const deploy: CommandModule = () => import('./deploy.ts')
const docker: CommandModule = () => import('./docker.ts')
const exec: CommandModule = () => import('./exec.ts')
const logs: CommandModule = () => import('./logs.ts')

/** Every command by its words after `berth`, with the file that holds it. */
export const registry: Record<string, CommandModule> = {
  login: auth,
  logout: auth,
  whoami: auth,
  'servers ls': servers,
  'servers add': servers,
  'servers rm': servers,
  'servers validate': servers,
  'servers resources': servers,
  'containers ls': containers,
  'containers run': containers,
  'containers inspect': containers,
  'containers stats': containers,
  'containers start': containers,
  'containers stop': containers,
  'containers restart': containers,
  'containers rm': containers,
  'apps ls': apps,
  'apps create': apps,
  'apps info': apps,
  'apps rm': apps,
  'env ls': env,
  'env set': env,
  'env unset': env,
  'domains ls': domains,
  'domains add': domains,
  'domains rm': domains,
  'tokens ls': tokens,
  'tokens create': tokens,
  'tokens rm': tokens,
  'users ls': users,
  'users create': users,
  'users rm': users,
  open,
  completion,
  deploy,
  rollback: deploy,
  cancel: deploy,
  logs,
  'containers logs': logs,
  exec,
  'containers exec': exec,
  docker,
}

/** The command of a name, from its file. */
export async function loadCommand(name: string): Promise<Command> {
  const load = registry[name]
  const command = load && (await load()).commands.find((c) => c.name === name)
  if (!command) throw new Error(`${name} is in the registry but not in its file`)
  return command
}

/** Every command, for the overview and completion: this imports every file. */
export async function loadAll(): Promise<Command[]> {
  return Promise.all(Object.keys(registry).map(loadCommand))
}
