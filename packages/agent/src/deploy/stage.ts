/** A deploy that cannot go on; its message is the reason the deployment reports. */
export class DeployFailure extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DeployFailure'
  }
}

/** What a cancelled deploy's signal aborts with. */
export class DeployCancelled extends Error {
  constructor() {
    super('the deployment was cancelled')
    this.name = 'DeployCancelled'
  }
}

export interface Stage {
  /** Aborts when the deploy is cancelled or the stage runs past its deadline. */
  signal: AbortSignal
  /** Stops the deadline's timer. */
  end(): void
}

/**
 * A stage of a deploy with a deadline of `ms`: its signal aborts with a DeployFailure naming the
 * stage ("the build took longer than 1800 s") once the deadline passes, or with the deploy's own
 * reason when the deploy is cancelled.
 */
export function stageWithin(deploy: AbortSignal, ms: number, what: string): Stage {
  const controller = new AbortController()
  const timer = setTimeout(
    () => controller.abort(new DeployFailure(`${what} took longer than ${formatSeconds(ms)}`)),
    ms,
  )
  const cancel = () => controller.abort(deploy.reason)
  if (deploy.aborted) cancel()
  else deploy.addEventListener('abort', cancel, { once: true })
  return {
    signal: controller.signal,
    end() {
      clearTimeout(timer)
      deploy.removeEventListener('abort', cancel)
    },
  }
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`
}
