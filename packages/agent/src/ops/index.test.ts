import os from 'node:os'
import { ops } from '@berth/shared'
import { describe, expect, it } from 'vitest'
import { connectDocker, DockerError } from '../docker/index.ts'
import { OpError, toAgentError } from '../errors.ts'
import { newRuntime, runOp } from './index.ts'

// Against the host's real Docker Engine.
const docker = connectDocker()
const run = (op: string, args: unknown = {}, signal = new AbortController().signal) =>
  runOp(op, args, { docker, signal, agent: newRuntime() })

describe('docker.ping', () => {
  it('times a real round trip to Docker', async () => {
    const result = ops['docker.ping'].result.parse(await run('docker.ping'))
    expect(result.docker_ms).toBeGreaterThan(0)
    expect(result.docker_ms).toBeLessThan(5_000)
  })

  it('fails with agent_error naming the address when Docker is not there', async () => {
    const nowhere = connectDocker('/tmp/berth-no-docker.sock')
    const failure = await runOp(
      'docker.ping',
      {},
      { docker: nowhere, signal: new AbortController().signal, agent: newRuntime() },
    ).catch(toAgentError)
    expect(failure).toMatchObject({ kind: 'agent_error' })
    expect(failure).toHaveProperty(
      'message',
      expect.stringContaining('cannot reach Docker at /tmp/berth-no-docker.sock'),
    )
  })

  it('stops waiting when its call is aborted', async () => {
    const aborted = AbortSignal.abort()
    await expect(run('docker.ping', {}, aborted)).rejects.toThrow()
  })
})

describe('host.resources', () => {
  it("reports the host's cpus, memory, disk and Docker counts", async () => {
    // Other test files start and remove containers meanwhile, so counts are bounded by readings around it.
    const before = await docker.info()
    const resources = ops['host.resources'].result.parse(await run('host.resources'))
    const info = await docker.info()
    expect(resources.cpus).toBe(os.cpus().length)
    expect(resources.memory.total).toBe(os.totalmem())
    expect(resources.memory.used + resources.memory.free).toBe(resources.memory.total)
    expect(resources.disk.path).toBe(info.rootDir)
    expect(resources.disk.total).toBeGreaterThan(0)
    expect(resources.disk.used + resources.disk.free).toBeLessThanOrEqual(resources.disk.total)
    // Concurrent files may each add or remove a few containers between the readings.
    const within = (value: number, a: number, b: number) => {
      expect(value).toBeGreaterThanOrEqual(Math.min(a, b) - 20)
      expect(value).toBeLessThanOrEqual(Math.max(a, b) + 20)
    }
    within(resources.docker.containers, before.containers, info.containers)
    within(resources.docker.running, before.running, info.running)
    expect(resources.docker.running).toBeLessThanOrEqual(resources.docker.containers)
    expect(resources.docker.images).toBe(info.images)
    expect(resources.uptime_s).toBeGreaterThan(0)
  })
})

describe('runOp', () => {
  it('refuses an op the protocol does not have', async () => {
    await expect(run('toString')).rejects.toMatchObject({
      kind: 'validation_error',
      message: 'unknown op "toString"',
    })
  })

  it('refuses arguments the op does not take', async () => {
    await expect(run('host.resources', { all: true })).rejects.toBeInstanceOf(OpError)
    await expect(run('host.resources', { all: true })).rejects.toMatchObject({ kind: 'validation_error' })
  })
})

describe('toAgentError', () => {
  it("maps Docker's statuses to kinds, keeping Docker's message", () => {
    expect(toAgentError(new DockerError('No such container: web', 404))).toEqual({
      kind: 'not_found',
      message: 'No such container: web',
    })
    expect(toAgentError(new DockerError('name already in use', 409))).toEqual({
      kind: 'conflict',
      message: 'name already in use',
    })
    expect(toAgentError(new DockerError('invalid reference format', 400))).toEqual({
      kind: 'validation_error',
      message: 'invalid reference format',
    })
    expect(
      toAgentError(new DockerError('bridge is a pre-defined network and cannot be removed', 403)),
    ).toEqual({
      kind: 'state_error',
      message: 'bridge is a pre-defined network and cannot be removed',
    })
    expect(toAgentError(new DockerError('server error', 500))).toEqual({
      kind: 'agent_error',
      message: 'server error',
    })
  })
})
