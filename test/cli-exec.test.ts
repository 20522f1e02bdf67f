import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { berth, CLI_BUNDLE, ciEnv, startBerth } from './support/cli.ts'
import { TEST_IMAGE } from './support/docker.ts'
import { type ContainerHost, startContainerHost } from './support/flows.ts'
import { waitFor } from './support/process.ts'
import { onTerminal, type Reply } from './support/pty.ts'

// `berth exec` and `berth containers logs`: the real CLI bundle against a real API, agent and
// container; the terminal under a real pseudo-terminal (Python's pty module).

const run = Math.random().toString(36).slice(2, 7)
const name = `t${run}-cli-shell`
let host: ContainerHost
let env: Record<string, string>
const cli = (args: string[], input?: string) => berth(args, { env, input })

beforeAll(async () => {
  const script = 'echo started; trap "exit 0" TERM; while true; do echo tick; sleep 1; done'
  host = await startContainerHost('cli-exec', ['--name', name, TEST_IMAGE, 'sh', '-c', script])
  env = ciEnv(host.api.url, host.admin)
})

afterAll(() => host?.stop())

/** `berth …args` on a pseudo-terminal of rows×cols, doing each reply once its prompt shows. */
const underPty = (args: string[], size: { rows: number; cols: number }, replies: [string, Reply][]) =>
  onTerminal([process.execPath, CLI_BUNDLE, ...args], replies, env, size)

describe('berth exec -it', () => {
  test('runs at the terminal size, echoes input and exits with the remote code', async () => {
    // Typed at the shell's prompt, as a person would: what is typed runs once the tty has its size.
    const { code, output } = await underPty(['exec', '-it', 'cli-exec', name], { rows: 33, cols: 101 }, [
      ['# ', 'stty size'],
      ['33 101', 'echo "got $((3 + 4))"; exit 7'],
    ])
    // The remote terminal echoes what is typed, then the shell answers it.
    expect(output).toMatch(/stty size\r*\n33 101/)
    expect(output).toContain('got 7')
    expect(code).toBe(7)
  })

  test('forwards a resize of the local terminal', async () => {
    const at = (size: string) => `until [ "$(stty size 2>/dev/null)" = "${size}" ]; do sleep 0.1; done`
    const script = `${at('24 80')}; echo sized; ${at('40 120')}; echo resized`
    const args = ['exec', '-it', 'cli-exec', name, '--', 'sh', '-c', script]
    const { code, output } = await underPty(args, { rows: 24, cols: 80 }, [['sized', { resize: [40, 120] }]])
    expect(output).toContain('resized')
    expect(code).toBe(0)
  })

  test('sends Ctrl-C as a byte to the remote terminal, which interrupts its command', async () => {
    const script = 'trap "echo interrupted; exit 5" INT; echo ready; while true; do sleep 0.1; done'
    const args = ['exec', '-it', 'cli-exec', name, '--', 'sh', '-c', script]
    const { code, output } = await underPty(args, { rows: 24, cols: 80 }, [['ready', { keys: '\u0003' }]])
    expect(output).toContain('interrupted')
    expect(code).toBe(5)
  })
})

describe('berth exec without a terminal', () => {
  test('keeps stdout and stderr apart and exits with the remote code', async () => {
    const res = await cli(['exec', 'cli-exec', name, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'])
    expect(res).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' })
  })

  test('-i pipes stdin to the process', async () => {
    const res = await cli(['exec', '-i', 'cli-exec', name, '--', 'head', '-n', '1'], 'piped line\n')
    expect(res).toMatchObject({ code: 0, stdout: 'piped line\n', stderr: '' })
  })

  test('-t without a terminal is a usage error', async () => {
    const res = await cli(['exec', '-t', 'cli-exec', name])
    expect(res.code).toBe(2)
    expect(res.stderr).toMatch(/^berth: -t needs a terminal/)
  })

  test('an unknown container exits 4 with the API code and request id on one line', async () => {
    const res = await cli(['exec', 'cli-exec', `t${run}-nothing`, '--', 'true'])
    expect(res.code).toBe(4)
    expect(res.stderr).toMatch(/^berth: .+ \(not_found, request req_\w+\)\n$/)
  })
})

describe('berth containers logs', () => {
  test('prints the last lines, as JSON with --json', async () => {
    await waitFor('a tick in the log', async () =>
      (await cli(['containers', 'logs', 'cli-exec', name])).stdout.includes('tick'),
    )
    const res = await cli(['containers', 'logs', 'cli-exec', name, '--tail', '2', '--json'])
    expect(res.code).toBe(0)
    expect(res.json().logs).toEqual([
      { stream: 'stdout', line: 'tick' },
      { stream: 'stdout', line: 'tick' },
    ])
  })

  test('-f follows until Ctrl-C, which ends it with 130', async () => {
    const child = startBerth(['containers', 'logs', 'cli-exec', name, '-f', '--tail', '1'], { env })
    await waitFor('two followed lines', () => child.output.split('tick').length > 2)
    child.proc.kill('SIGINT')
    expect(await child.exited).toBe(130)
    expect(child.output).toMatch(/^(tick\n)+$/)
  })
})
