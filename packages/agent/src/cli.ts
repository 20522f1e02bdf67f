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

function parse() {
  return parseArgs({
    options: {
      api: { type: 'string' },
      token: { type: 'string' },
      state: { type: 'string' },
      'work-dir': { type: 'string' },
      docker: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
    strict: true,
    allowPositionals: false,
  })
}

main()
