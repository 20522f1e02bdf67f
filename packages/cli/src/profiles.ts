import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { BerthError } from '@berth/client'

/** Where an API is and the token that calls it. */
export interface Profile {
  url: string
  token: string
}

/** The config file: named profiles and the one used when `--profile` is not given. */
export interface Config {
  default?: string
  profiles: Record<string, Profile>
}

export const DEFAULT_PROFILE = 'default'

/** `$XDG_CONFIG_HOME/berth/config.json`, else `~/.config/berth/config.json`. */
export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config')
  return join(base, 'berth', 'config.json')
}

export async function readConfig(env: NodeJS.ProcessEnv): Promise<Config> {
  const path = configPath(env)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} }
    throw err
  }
  let parsed: Partial<Config>
  try {
    parsed = JSON.parse(text) as Partial<Config>
  } catch {
    throw new Error(`${path} is not valid JSON: fix it, or remove it and log in again`)
  }
  return { default: parsed.default, profiles: parsed.profiles ?? {} }
}

/** Writes the whole file readable by its owner only (it holds tokens), replacing it in one rename. */
export async function writeConfig(env: NodeJS.ProcessEnv, config: Config): Promise<string> {
  const path = configPath(env)
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  await chmod(dirname(path), 0o700)
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 })
  await rename(temporary, path)
  return path
}

/** The profile a command runs as: BERTH_URL with BERTH_TOKEN first, then `--profile`, then the default. */
export async function resolveProfile(env: NodeJS.ProcessEnv, name: string | undefined): Promise<Profile> {
  if (env.BERTH_URL && env.BERTH_TOKEN) return { url: env.BERTH_URL, token: env.BERTH_TOKEN }
  const config = await readConfig(env)
  const chosen = name ?? config.default ?? DEFAULT_PROFILE
  const profile = config.profiles[chosen]
  if (profile) return profile
  throw BerthError.local({
    error: 'auth_error',
    code: 'not_logged_in',
    message:
      name === undefined
        ? 'not logged in: run `berth login URL`, or set BERTH_URL and BERTH_TOKEN'
        : `no profile named ${chosen}: run \`berth login URL --profile ${chosen}\``,
    status: 401,
  })
}
