import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { REVOKED_MESSAGE } from './index.ts'
import { StandInApi } from './testing/stand-in-api.ts'

// The CLI as a real process, from source; a real ws server stands in for the API.
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url))

let api: StandInApi
let folder: string

beforeEach(async () => {
  api = await StandInApi.start()
  folder = await mkdtemp(join(os.tmpdir(), 'berth-cli-'))
})
afterEach(async () => {
  await api.close()
  await rm(folder, { recursive: true, force: true })
})

function agent(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    env: { ...process.env, BERTH_API_URL: '', BERTH_AGENT_TOKEN: '', BERTH_AGENT_STATE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk) => {
    stderr += chunk
  })
  return { child, stderr: () => stderr }
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  const [code] = await once(child, 'exit')
  return code
}

describe('berth-agent', () => {
  it('runs from the environment and ends with exit code 0 on SIGTERM, closing the link with 1000', async () => {
    const { child, stderr } = agent([], {
      BERTH_API_URL: api.url,
      BERTH_AGENT_TOKEN: api.addServer('srv_cli'),
      BERTH_AGENT_STATE: join(folder, 'agent.json'),
    })
    const link = await api.link(0, 15_000)
    await link.take('hello')
    await expect.poll(() => stderr()).toContain('as server srv_cli')
    child.kill('SIGTERM')
    expect(await exitCode(child)).toBe(0)
    expect(await link.closed).toBe(1000)
    for (const line of stderr().trim().split('\n')) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z /)
    expect(stderr()).not.toContain('enr_srv_cli')
    expect(stderr()).not.toContain('agt_srv_cli')
  }, 20_000)

  it('exits 1 with a clear message when the API refuses its token', async () => {
    const state = join(folder, 'agent.json')
    await writeFile(
      state,
      JSON.stringify({ api: api.url, server_id: 'srv_gone', agent_token: 'agt_revoked' }),
    )
    const { child, stderr } = agent(['--api', api.url, '--state', state])
    expect(await exitCode(child)).toBe(1)
    expect(stderr()).toContain(REVOKED_MESSAGE)
  }, 20_000)

  it("exits 1 with the API's message when enrollment is refused", async () => {
    const { child, stderr } = agent([
      '--api',
      api.url,
      '--token',
      'enr_wrong',
      '--state',
      join(folder, 'a.json'),
    ])
    expect(await exitCode(child)).toBe(1)
    expect(stderr()).toContain('the enrollment token is invalid, used or expired')
  }, 20_000)

  it('explains its flags', async () => {
    const { child } = agent(['--help'])
    let stdout = ''
    child.stdout?.on('data', (chunk) => {
      stdout += chunk
    })
    expect(await exitCode(child)).toBe(0)
    expect(stdout).toContain('--api <url>')
    expect(stdout).toContain('--token <token>')
  }, 20_000)
})
