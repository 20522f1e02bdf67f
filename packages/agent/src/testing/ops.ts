import type { OpArgs, OpName, OpResult } from '@berth/shared'
import { ops } from '@berth/shared'
import { connectDocker } from '../docker/index.ts'
import { toAgentError } from '../errors.ts'
import type { AgentRuntime } from '../ops/context.ts'
import { newRuntime, runOp } from '../ops/index.ts'
import { dockerCli, randomName, TEST_IMAGE, type TestDocker } from './test-docker.ts'

/** Calls ops against the host's real Docker Engine as the API would, each result checked against the protocol. */
export function opCaller(agent: AgentRuntime = newRuntime()) {
  const docker = connectDocker()
  async function call<O extends OpName>(op: O, args: unknown, timeoutMs = 30_000): Promise<OpResult<O>> {
    const data = await runOp(op, args, { docker, signal: AbortSignal.timeout(timeoutMs), agent })
    return ops[op].result.parse(data) as OpResult<O>
  }
  /** The error a call fails with, as the API hears it; null when it succeeds. */
  const failureOf = (op: OpName, args: unknown, timeoutMs?: number) =>
    call(op, args, timeoutMs).then(() => null, toAgentError)
  return { docker, call, failureOf }
}

/** A port range of its own for each test, away from the ones Docker picks (32768+). */
export function portRange(size = 4): { start: number; end: number } {
  const start = 20_000 + Math.floor(Math.random() * 10_000)
  return { start, end: start + size - 1 }
}

// The trap lets `docker stop` end it at once rather than after its 10 s grace.
export const LOOP = ['sh', '-c', 'trap "exit 0" TERM; while true; do echo out; echo err >&2; sleep 0.2; done']

/** `container.create` arguments for a looping test container labelled for `fixtures`. */
export function createArgs(
  fixtures: TestDocker,
  overrides: Partial<OpArgs<'container.create'>> = {},
): OpArgs<'container.create'> {
  return {
    berth_id: 'ctr_test',
    name: randomName('berth-test'),
    image: TEST_IMAGE,
    cmd: LOOP,
    env: {},
    labels: fixtures.labels,
    resources: {},
    ports: [],
    port_range: portRange(),
    volumes: [],
    restart: 'no',
    start: true,
    ...overrides,
  }
}

/** Makes the image `tag`: the test image as `cmd` left it, committed. */
export function committedImage(fixtures: TestDocker, tag: string, ...cmd: string[]): string {
  const id = fixtures.run(TEST_IMAGE, ...cmd)
  dockerCli('wait', id)
  dockerCli('commit', id, tag)
  dockerCli('rm', id)
  return tag
}
