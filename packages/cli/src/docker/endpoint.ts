import { chmod, lstat, mkdtemp, rm, unlink } from 'node:fs/promises'
import { connect, isIPv4, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UsageError } from '../command.ts'

// Where `berth docker` listens for local Docker clients: a unix socket in a private temporary
// folder (for one docker command), a unix socket the user names, or a loopback TCP port.

export type Where =
  | { kind: 'temporary' }
  | { kind: 'socket'; path: string }
  | { kind: 'tcp'; host: string; port: number }

export interface Listening {
  /** What DOCKER_HOST is set to: `unix:///…` or `tcp://127.0.0.1:…`. */
  dockerHost: string
  /** Stops listening and removes the socket (and the temporary folder) this made. */
  close(): Promise<void>
}

/**
 * `HOST:PORT` of --listen, loopback only: Docker's API is root on the host, and a port open to the
 * network would hand it to anyone who reaches this machine, with no credential asked.
 */
export function loopback(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address)
  const host = match?.[1] ?? match?.[2]
  const port = Number(match?.[3])
  if (!match || !host || port > 65535) throw new UsageError(`--listen takes 127.0.0.1:PORT, not ${address}`)
  if (!((isIPv4(host) && host.startsWith('127.')) || host === '::1')) {
    throw new UsageError(
      `--listen ${address} is not a loopback address: Docker through it would be open to the network with no credential (use 127.0.0.1:PORT)`,
    )
  }
  return { host, port }
}

export async function listen(server: Server, where: Where): Promise<Listening> {
  if (where.kind === 'tcp') {
    await bind(server, () => server.listen(where.port, where.host))
    const { port } = server.address() as { port: number }
    const host = where.host.includes(':') ? `[${where.host}]` : where.host
    return { dockerHost: `tcp://${host}:${port}`, close: () => stop(server) }
  }
  if (where.kind === 'temporary') {
    // mkdtemp makes the folder 0700: no other user reaches the socket inside it.
    const dir = await mkdtemp(join(tmpdir(), 'berth-docker-'))
    const path = join(dir, 'docker.sock')
    await bind(server, () => server.listen(path))
    return {
      dockerHost: `unix://${path}`,
      close: () => stop(server).finally(() => rm(dir, { recursive: true, force: true })),
    }
  }
  const { path } = where
  await clearStale(path)
  // Made 0600 from the start (umask around the bind), so no other user connects in between.
  const umask = process.umask(0o177)
  try {
    await bind(server, () => server.listen(path))
  } finally {
    process.umask(umask)
  }
  await chmod(path, 0o600)
  return {
    dockerHost: `unix://${path}`,
    close: () => stop(server).finally(() => unlink(path).catch(() => {})),
  }
}

/** Removes a socket left by a `berth docker` that is gone; refuses anything else at `path`. */
async function clearStale(path: string): Promise<void> {
  const stat = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (!stat) return
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket: name another path`)
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (live) throw new Error(`${path} is in use by a running program: stop it or name another path`)
  await unlink(path)
}

function bind(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen there: ${err.message}`))
    server.once('error', failed)
    server.once('listening', () => {
      server.off('error', failed)
      resolve()
    })
    start()
  })
}

function stop(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}
