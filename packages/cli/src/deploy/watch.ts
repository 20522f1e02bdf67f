import { type BerthClient, follow, unwrap } from '@berth/client'
import { type CommandContext, EXIT, type ExitCode } from '../command.ts'
import { duration, printJsonLine, StatusLine } from '../live.ts'
import { paint } from '../output.ts'
import { appUrl } from './url.ts'

// Following a deployment to its end: its build log streamed, its stage and elapsed time on a
// status line (both on stderr, as all progress is), and a last line on stdout with the app's URL,
// or the reason it failed on stderr.

interface LogLine {
  seq: number
  stream: 'stdout' | 'stderr' | 'system'
  text: string
}

/** The agent's line when the new containers run and the health gate starts. */
const HEALTH_GATE = /waiting for them to be healthy/

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

/** What a user watching sees: the stage (queued, cloning, building, deploying, health) and the time. */
class DeployDisplay {
  private stage = 'queued'
  private frame = 0
  private readonly timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly ctx: CommandContext,
    private readonly line: StatusLine,
    private readonly started: number,
  ) {
    if (line.tty) this.timer = setInterval(() => this.draw(), 100)
    this.draw()
  }

  setStage(stage: string): void {
    if (stage === this.stage) return
    this.stage = stage
    this.draw()
  }

  log(entry: LogLine): void {
    if (HEALTH_GATE.test(entry.text)) this.setStage('health')
    const text = entry.stream === 'system' ? paint(this.ctx, 'dim', entry.text) : entry.text
    this.line.print(text)
  }

  /** Ends the display, with `last` as its last line. */
  end(last?: string): void {
    if (this.timer) clearInterval(this.timer)
    if (last) this.line.print(last)
    this.line.clear()
  }

  elapsed(): string {
    return duration(Date.now() - this.started)
  }

  private draw(): void {
    if (!this.line.tty) {
      this.line.set(`==> ${this.stage} (${this.elapsed()})`)
      return
    }
    this.frame = (this.frame + 1) % SPINNER.length
    this.line.set(`${paint(this.ctx, 'yellow', SPINNER[this.frame]!)} ${this.stage}  ${this.elapsed()}`)
  }
}

/**
 * Follows a deployment until it is over and says how it ended: 0 when it runs, 1 when it failed
 * or was cancelled, 130 when Ctrl-C stopped the following (the deployment goes on).
 */
export async function watchDeployment(
  ctx: CommandContext,
  client: BerthClient,
  input: { deploymentId: string; appId: string; serverId: string; started: number },
): Promise<ExitCode> {
  const { deploymentId: id, appId, serverId, started } = input
  const display = ctx.json ? undefined : new DeployDisplay(ctx, new StatusLine(ctx.stderr), started)
  const stream = follow(client, `/deployments/${id}/logs`, { query: { follow: true }, signal: ctx.signal })
  try {
    for await (const event of stream) {
      const data = JSON.parse(event.data)
      if (!display) printJsonLine(ctx, { event: event.event, data })
      else if (event.event === 'log') display.log(data as LogLine)
      else if (event.event === 'state') display.setStage(data.state)
    }
  } catch (err) {
    display?.end()
    throw err
  }
  if (ctx.signal.aborted) {
    display?.end()
    ctx.stderr.write(`stopped following ${id}; it goes on (berth cancel ${id} stops it)\n`)
    return EXIT.interrupted
  }
  const [{ deployment }, url] = await Promise.all([
    unwrap(client.api.deployments[':id'].$get({ param: { id } })),
    // The URL is for the last line only: a deployment that ran is reported even without it.
    appUrl(client, { appId, serverId }).catch(() => null),
  ])
  const total = duration(Date.now() - started)
  if (deployment.state !== 'running') {
    if (ctx.json) printJsonLine(ctx, { deployment })
    display?.end(paint(ctx, 'red', `✗ deployment ${id} ${deployment.state} after ${total}`))
    ctx.stderr.write(
      `berth: deployment ${id} ${deployment.state}: ${deployment.reason ?? 'no reason given'}\n`,
    )
    return EXIT.failed
  }
  if (ctx.json) printJsonLine(ctx, { deployment, url })
  display?.end()
  // The one line on stdout, for a script to take the URL from.
  if (!ctx.json)
    ctx.stdout.write(`${paint(ctx, 'green', `✓ ${url ?? 'the app'} is running (${id}, ${total})`)}\n`)
  return EXIT.ok
}
