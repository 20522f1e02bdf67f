import http from 'node:http'
import net from 'node:net'
import { type DeployArgs, deployArgs } from '@berth/shared'
import type { z } from 'zod'
import { messageOf } from '../log.ts'

export type HealthCheck = NonNullable<DeployArgs['run']['health_check']>
/** The health check as the `berth.app.health` label holds it. */
export const healthCheckLabel: z.ZodType<HealthCheck> = deployArgs.shape.run.shape.health_check.unwrap()

export interface ProbeResult {
  ok: boolean
  /** How long the probe took; null when it did not get an answer. */
  ms: number | null
  error: string | null
}

/**
 * One probe of a container at `host:port`: an HTTP GET of the check's path answered with 2xx or
 * 3xx, or, for a TCP check, a connection accepted; within the check's timeout.
 */
export function probe(
  host: string,
  port: number,
  check: HealthCheck,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const started = performance.now()
  const timeoutMs = check.timeout * 1000
  const elapsed = () => Math.round(performance.now() - started)
  return new Promise((resolve) => {
    let settled = false
    const settle = (result: ProbeResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(result)
    }
    const fail = (error: string) => settle({ ok: false, ms: null, error })
    const timer = setTimeout(() => {
      fail(`no answer within ${check.timeout} s`)
      destroy()
    }, timeoutMs)
    const onAbort = () => {
      fail('the check was stopped')
      destroy()
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    let destroy = () => {}

    if (check.path === undefined) {
      const socket = net.connect({ host, port })
      destroy = () => socket.destroy()
      socket.once('connect', () => {
        settle({ ok: true, ms: elapsed(), error: null })
        socket.destroy()
      })
      socket.once('error', (err) => fail(messageOf(err)))
      return
    }
    const request = http.get({
      host,
      port,
      path: check.path,
      agent: false,
      headers: { 'user-agent': 'berth-agent' },
    })
    destroy = () => request.destroy()
    request.once('response', (response) => {
      const status = response.statusCode ?? 0
      response.resume()
      response.once('end', () => request.destroy())
      settle(
        status >= 200 && status < 400
          ? { ok: true, ms: elapsed(), error: null }
          : { ok: false, ms: elapsed(), error: `HTTP ${status} from GET ${check.path}` },
      )
    })
    request.once('error', (err) => fail(messageOf(err)))
  })
}
