import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { constants } from 'node:os'
import { type Command, type CommandContext, EXIT, type ExitCode, UsageError } from '../command.ts'
import { type Listening, listen, loopback, type Where } from '../docker/endpoint.ts'
import { DockerRelay } from '../docker/relay.ts'
import { printJsonLine } from '../live.ts'
import { serverId } from '../refs.ts'

// The real `docker` client and Compose against a server through Berth: a local socket whose every
// connection is a tunnel to the host's Docker socket (GET /servers/:id/docker).

/** Variables that would point docker somewhere else than the socket given in DOCKER_HOST. */
const ELSEWHERE = ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_TLS']

function where(ctx: CommandContext, values: Record<string, unknown>, args: string[]): Where {
  const socket = typeof values.socket === 'string' ? values.socket : undefined
  const address = typeof values.listen === 'string' ? values.listen : undefined
  if (socket !== undefined && address !== undefined)
    throw new UsageError('give --socket or --listen, not both')
  if ((socket !== undefined || address !== undefined) && args.length > 0) {
    throw new UsageError('docker arguments go without --socket and --listen: berth docker SERVER -- ARGS...')
  }
  if (socket !== undefined) return { kind: 'socket', path: socket }
  if (address !== undefined) return { kind: 'tcp', ...loopback(address) }
  if (args.length === 0) {
    throw new UsageError('give docker arguments after --, or --socket PATH, or --listen 127.0.0.1:PORT')
  }
  if (ctx.json) throw new UsageError('--json is for --socket and --listen: docker prints its own output')
  return { kind: 'temporary' }
}

async function run(ctx: CommandContext, positionals: string[], values: Record<string, unknown>) {
  const [server, ...args] = positionals
  if (!server) throw new UsageError('missing SERVER')
  const at = where(ctx, values, args)
  const client = await ctx.client()
  const sid = await serverId(client, server)
  const relay = new DockerRelay(client, sid, ctx.stderr)
  await relay.probe()
  const local = createServer({ allowHalfOpen: true }, (socket) => void relay.accept(socket))
  let listening: Listening
  try {
    listening = await listen(local, at)
  } catch (err) {
    relay.close()
    throw err
  }
  try {
    if (at.kind === 'temporary') return await runDocker(ctx, listening.dockerHost, args)
    return await serve(ctx, server, sid, listening.dockerHost)
  } finally {
    relay.close()
    await listening.close()
  }
}

/** `-- ARGS`: docker runs with this terminal; berth ends with docker's exit code. */
async function runDocker(ctx: CommandContext, dockerHost: string, args: string[]): Promise<ExitCode> {
  const env: NodeJS.ProcessEnv = { ...ctx.env, DOCKER_HOST: dockerHost }
  for (const name of ELSEWHERE) delete env[name]
  const child = spawn('docker', args, { stdio: 'inherit', env })
  // Ctrl-C reaches docker from the terminal, as it always does; berth waits for docker to end.
  const interrupted = () => {}
  const terminate = () => child.kill('SIGTERM')
  process.on('SIGINT', interrupted)
  process.on('SIGTERM', terminate)
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null]
    return (code ?? 128 + (signal ? constants.signals[signal] : 0)) as ExitCode
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
    throw missing
      ? new Error('no docker client on PATH: install one (Debian: docker.io, or docker-ce-cli)')
      : err
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', terminate)
  }
}

/** `--socket` and `--listen`: the endpoint stays open until Ctrl-C. */
async function serve(ctx: CommandContext, server: string, sid: string, dockerHost: string) {
  const context = `berth-${server.replace(/[^a-zA-Z0-9_.+-]/g, '-')}`
  const create = `docker context create ${context} --docker host=${dockerHost}`
  if (ctx.json) printJsonLine(ctx, { server_id: sid, docker_host: dockerHost, context: create })
  else {
    ctx.stdout.write(`export DOCKER_HOST=${dockerHost}\n${create}\n`)
    ctx.stderr.write(`berth: Docker of ${server} at ${dockerHost} until Ctrl-C\n`)
  }
  if (!ctx.signal.aborted) await once(ctx.signal, 'abort')
  return EXIT.interrupted
}

const docker: Command = {
  name: 'docker',
  summary: "Run docker and Compose against a server's Docker Engine through Berth",
  usage: 'SERVER [-- DOCKER-ARGS... | --socket PATH | --listen 127.0.0.1:PORT]',
  examples: [
    'berth docker local -- ps',
    'berth docker local -- run --rm -it busybox sh',
    'berth docker edge-1 --socket /tmp/edge-1.sock',
    'berth docker edge-1 --listen 127.0.0.1:2375',
  ],
  options: {
    socket: { type: 'string', description: 'keep a unix socket open at PATH (0600) until Ctrl-C' },
    listen: { type: 'string', description: 'keep a loopback TCP port open (127.0.0.1:PORT) until Ctrl-C' },
  },
  run: (ctx, { positionals, values }) => run(ctx, positionals, values),
}

export const commands = [docker]
