import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { BERTH_VERSION } from '@berth/shared'
import { startAgent } from './index.ts'
import { logToStderr, messageOf } from './log.ts'

const USAGE = `berth-agent ${BERTH_VERSION}: connects this host's Docker Engine to a Berth API.

Usage: berth-agent --api <url> --token <enrollment token> [options]

  --api <url>        the Berth API, e.g. https://berth.example.com     (env BERTH_API_URL)
  --token <token>    the one-time enrollment token from "add server"  (env BERTH_AGENT_TOKEN);
                     not needed once the state file holds an agent token
  --state <file>     where the agent token is kept                    (env BERTH_AGENT_STATE)
                     default /var/lib/berth/agent.json as root, else ~/.config/berth/agent.json
  --work-dir <dir>   where deploys clone, build and keep uploads     (env BERTH_AGENT_WORK_DIR)
                     default: the folder "work" beside the state file
  --docker <socket>  the Docker Engine: a unix socket path or tcp://host:port
                                                                       (env DOCKER_HOST)
                     default /var/run/docker.sock
  --name <name>      the host name to report (default: this host's name)
  --caddy-admin <a>  the host's Caddy admin endpoint: an http:// URL, a unix socket path,
                     or "off" to serve apps on their host ports with the agent's own proxy
                                                                       (env BERTH_CADDY_ADMIN)
                     default http://127.0.0.1:2019
  --caddy-http-port <n>, --caddy-https-port <n>
                     the ports Caddy serves domains on       (env BERTH_CADDY_HTTP_PORT,
                     default 80 and 443                           BERTH_CADDY_HTTPS_PORT)
  --caddy-tls-log <file>
                     a file Caddy writes its certificate log to, for the reasons a
                     certificate failed                       (env BERTH_CADDY_TLS_LOG)
                     default /var/log/caddy/berth-tls.log when that folder exists
  -h, --help         show this help
  -v, --version      show the version
`

function main(): void {
  let values: ReturnType<typeof parse>['values']
  try {
    values = parse().values
  } catch (err) {
    process.stderr.write(`berth-agent: ${messageOf(err)}\n\n${USAGE}`)
    process.exitCode = 2
    return
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return
  }
  if (values.version) {
    process.stdout.write(`${BERTH_VERSION}\n`)
    return
  }
  const env = process.env
  const api = values.api ?? env.BERTH_API_URL
  if (!api) {
    process.stderr.write(`berth-agent: --api <url> (or BERTH_API_URL) is required\n\n${USAGE}`)
    process.exitCode = 2
    return
  }

  let agent: ReturnType<typeof startAgent>
  try {
    agent = startAgent({
      api,
      token: values.token ?? (env.BERTH_AGENT_TOKEN || undefined),
      statePath: values.state ?? (env.BERTH_AGENT_STATE || undefined),
      workDir: values['work-dir'] ?? (env.BERTH_AGENT_WORK_DIR || undefined),
      docker: values.docker,
      name: values.name,
      caddy: {
        admin: values['caddy-admin'] ?? (env.BERTH_CADDY_ADMIN || 'http://127.0.0.1:2019'),
        httpPort: portOf(values['caddy-http-port'] ?? env.BERTH_CADDY_HTTP_PORT, 80, '--caddy-http-port'),
        httpsPort: portOf(
          values['caddy-https-port'] ?? env.BERTH_CADDY_HTTPS_PORT,
          443,
          '--caddy-https-port',
        ),
        tlsLog: values['caddy-tls-log'] ?? (env.BERTH_CADDY_TLS_LOG || defaultTlsLog()),
        checkMs: env.BERTH_CADDY_CHECK_MS ? Number(env.BERTH_CADDY_CHECK_MS) : undefined,
      },
    })
  } catch (err) {
    process.stderr.write(`berth-agent: ${messageOf(err)}\n`)
    process.exitCode = 2
    return
  }

  const stop = (signal: NodeJS.Signals) => {
    logToStderr(`${signal}: stopping`)
    void agent.stop()
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)

  void agent.done
    .then(
      ({ reason }) => reason === 'revoked',
      () => true,
    )
    .then((failed) => {
      if (failed) process.exitCode = 1
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
    })
}

/** Beside Caddy's own logs when Debian's package made their folder (owned by Caddy's user), else none. */
function defaultTlsLog(): string | null {
  return existsSync('/var/log/caddy') ? '/var/log/caddy/berth-tls.log' : null
}

function portOf(raw: string | undefined, fallback: number, flag: string): number {
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new TypeError(`${flag} must be a port, not "${raw}"`)
  return port
}

function parse() {
  return parseArgs({
    options: {
      api: { type: 'string' },
      token: { type: 'string' },
      state: { type: 'string' },
      'work-dir': { type: 'string' },
      docker: { type: 'string' },
      name: { type: 'string' },
      'caddy-admin': { type: 'string' },
      'caddy-http-port': { type: 'string' },
      'caddy-https-port': { type: 'string' },
      'caddy-tls-log': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
    strict: true,
    allowPositionals: false,
  })
}

main()
