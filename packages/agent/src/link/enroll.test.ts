import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { StandInApi } from '../testing/stand-in-api.ts'
import { EnrollmentError, enroll, prepareStateFolder, readState, writeState } from './enroll.ts'

let folder: string
const logLines: string[] = []
const log = (line: string) => logLines.push(line)

beforeEach(async () => {
  folder = await mkdtemp(join(os.tmpdir(), 'berth-state-'))
  logLines.length = 0
})
afterEach(() => rm(folder, { recursive: true, force: true }))

describe('the state file', () => {
  const state = { api: 'http://api.test', server_id: 'srv_1', agent_token: 'agt_secret' }

  it('is written owner-only in an owner-only folder, with nothing left beside it', async () => {
    const path = join(folder, 'nested', 'agent.json')
    await writeState(path, state)
    expect(await readState(path, log)).toEqual(state)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(folder, 'nested'))).mode & 0o777).toBe(0o700)
    expect(await readdir(join(folder, 'nested'))).toEqual(['agent.json'])
  })

  it('is replaced whole when written again', async () => {
    const path = join(folder, 'agent.json')
    await writeState(path, state)
    await writeState(path, { ...state, server_id: 'srv_2' })
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ ...state, server_id: 'srv_2' })
  })

  it('counts as absent when missing or not an agent state, saying so without its contents', async () => {
    expect(await readState(join(folder, 'missing.json'), log)).toBeNull()
    const path = join(folder, 'agent.json')
    await writeFile(path, '{"agent_token": "agt_half"}')
    expect(await readState(path, log)).toBeNull()
    expect(logLines).toEqual([`the state file ${path} is not an agent state; ignoring it`])
  })

  it('cannot be kept under a file', async () => {
    await writeFile(join(folder, 'file'), '')
    await expect(prepareStateFolder(join(folder, 'file', 'agent.json'))).rejects.toThrow(
      /^cannot write the state file .*file\/agent\.json/,
    )
  })
})

describe('enroll', () => {
  let api: StandInApi
  beforeEach(async () => {
    api = await StandInApi.start()
  })
  afterEach(() => api.close())

  it('trades an enrollment token for an agent token, once', async () => {
    const token = api.addServer('srv_e')
    expect(await enroll(api.url, token, new AbortController().signal)).toEqual({
      server_id: 'srv_e',
      agent_token: 'agt_srv_e_0',
    })
    const again = await enroll(api.url, token, new AbortController().signal).catch((err: unknown) => err)
    expect(again).toBeInstanceOf(EnrollmentError)
    expect(again).toMatchObject({
      retryable: false,
      message: `the API at ${api.url} refused the enrollment: the enrollment token is invalid, used or expired`,
    })
  })

  it('is worth retrying when the API cannot be reached', async () => {
    const gone = api.url
    await api.close()
    const failure = await enroll(gone, 'enr_x', new AbortController().signal).catch((err: unknown) => err)
    expect(failure).toMatchObject({ retryable: true })
    expect(String(failure)).toContain(`cannot reach the API at ${gone}: connect ECONNREFUSED`)
  })
})
