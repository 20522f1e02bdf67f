import { createHash } from 'node:crypto'
import { lstat, readdir, readFile, readlink, realpath } from 'node:fs/promises'
import { posix } from 'node:path'
import type { Readable } from 'node:stream'
import tar from 'tar-stream'
import { runProcess } from './deploy/process.ts'
import { type Docker, DockerError } from './docker/index.ts'
import { OpError } from './errors.ts'

// Git on content Berth does not trust (a container's checkout, a repository an app deploys from) runs
// in a throwaway container made of the host's own git: whatever the repository says runs there, and a
// path or link in it resolves in that container's filesystem, never on the host.

export interface ContainedGit {
  /** git's arguments; or `script`, a shell script of git commands (one container start for several). */
  args?: string[]
  script?: string
  /** Environment added to the image's own. */
  env?: string[]
  /** A container whose mounts the git container gets, at the same places (`--volumes-from`). */
  volumesFrom?: string
  /** Host folders mounted at the same path in the git container; each must exist. */
  mounts?: { source: string; readOnly?: boolean }[]
  /** `uid:gid` to run as; root (to work on a checkout whoever owns it) when not given. */
  user?: string
  /** `none` unless git must reach a network remote. */
  network: 'none' | 'bridge' | 'host'
  stdout: Sink
  stderr: Sink
  signal: AbortSignal
}

export interface Sink {
  write(piece: string | Buffer): void
  end(): void
}

const MEMORY = 1024 * 1024 * 1024
const PIDS = 128
/** The image's system config: the checkout may belong to any user, and this git is alone in its container. */
const SYSTEM_CONFIG = '[safe]\n\tdirectory = *\n'

/** Runs git in a throwaway container to its end and answers its exit code. */
export async function runContainedGit(docker: Docker, run: ContainedGit): Promise<number> {
  const image = await gitImage(docker, run.signal)
  const id = await docker.createContainer(
    {
      Image: image,
      Entrypoint: run.script === undefined ? ['/usr/bin/git'] : ['/bin/sh', '-c'],
      Cmd: run.script === undefined ? (run.args ?? []) : [run.script],
      WorkingDir: '/',
      User: run.user ?? '0:0',
      Env: ['PATH=/usr/bin:/bin', 'HOME=/root', 'LC_ALL=C', ...(run.env ?? [])],
      Labels: { 'berth.git': 'true' },
      HostConfig: {
        NetworkMode: run.network,
        ...(run.volumesFrom ? { VolumesFrom: [run.volumesFrom] } : {}),
        ...(run.mounts ? { Mounts: run.mounts.map(bindMount) } : {}),
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m', '/root': 'rw,nosuid,nodev,size=16m' },
        SecurityOpt: ['no-new-privileges'],
        // Root only to read and write a checkout whoever owns it; nothing else a root can do.
        CapDrop: ['ALL'],
        CapAdd: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER'],
        PidsLimit: PIDS,
        Memory: MEMORY,
        MemorySwap: MEMORY,
      },
    },
    undefined,
    run.signal,
  )
  try {
    await docker.startContainer(id, run.signal)
    const output = await docker.containerLogs(
      id,
      { tty: false, follow: true, tail: 'all', timestamps: false },
      run.signal,
    )
    for await (const piece of output) (piece.stream === 'stdout' ? run.stdout : run.stderr).write(piece.data)
    if (run.signal.aborted) throw run.signal.reason
    return (await docker.inspectContainer(id, run.signal)).State.ExitCode
  } finally {
    run.stdout.end()
    run.stderr.end()
    await docker.removeContainer(id, { force: true, volumes: true }).catch(() => {})
  }
}

/** The agent's own user and group: what a deploy's clone runs as, so the agent can remove it after. */
export function agentUser(): { uid: number; gid: number } {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }
}

/** A bind at the same path; unlike Binds, a missing source is an error, never a folder made on the host. */
function bindMount(mount: { source: string; readOnly?: boolean }) {
  return { Type: 'bind', Source: mount.source, Target: mount.source, ReadOnly: mount.readOnly ?? false }
}

/** Each of stdout and stderr is cut here: a git result travels in one frame. */
const OUTPUT_LIMIT = 512 * 1024

/** Collects output up to OUTPUT_LIMIT bytes. */
export function collector() {
  const pieces: Buffer[] = []
  let size = 0
  let cut = false
  return {
    write(piece: string | Buffer) {
      const data = typeof piece === 'string' ? Buffer.from(piece) : piece
      const room = OUTPUT_LIMIT - size
      if (data.length > room) cut = true
      if (room <= 0) return
      pieces.push(data.subarray(0, room))
      size += Math.min(data.length, room)
    },
    end() {},
    text() {
      return Buffer.concat(pieces).toString('utf8') + (cut ? '\n[output cut]\n' : '')
    },
  }
}

// ---------------------------------------------------------------- the image

const images = new WeakMap<Docker, Promise<string>>()

/** The git image's name, made once per Docker and agent; a host without git gets a state_error. */
export function gitImage(docker: Docker, signal: AbortSignal): Promise<string> {
  let image = images.get(docker)
  if (!image) {
    image = makeGitImage(docker, signal)
    images.set(docker, image)
    // A failure is not remembered: the next call tries again.
    image.catch(() => images.delete(docker))
  }
  return image
}

async function makeGitImage(docker: Docker, signal: AbortSignal): Promise<string> {
  const files = await imageFiles(signal)
  const hash = createHash('sha256')
  for (const file of files) {
    hash.update(`${file.path}\0${file.mode}\0${file.link ?? ''}\0`)
    if (file.data) hash.update(file.data)
  }
  const ref = `berth-git:${hash.digest('hex').slice(0, 16)}`
  const present = await docker.inspectImage(ref, signal).then(
    () => true,
    (err: unknown) => {
      if (err instanceof DockerError && err.status === 404) return false
      throw err
    },
  )
  if (!present) await docker.importImage(ref, packFiles(files), signal)
  return ref
}

interface ImageFile {
  path: string
  mode: number
  data?: Buffer
  /** A symlink's target. */
  link?: string
}

/**
 * The root filesystem: the host's git, its exec-path helpers and templates, ssh, a shell for the
 * helpers that are scripts, every shared library they load, the CA bundle, and a passwd for ssh.
 */
async function imageFiles(signal: AbortSignal): Promise<ImageFile[]> {
  const git = await whichGit()
  const execPath = (await hostOutput('git', ['--exec-path'], signal))?.trim()
  if (!execPath) throw new OpError('state_error', 'git on this host does not name its exec-path')
  const files = new Map<string, ImageFile>()
  const add = (file: ImageFile) => files.set(file.path, file)
  const programs: string[] = []
  const copy = async (from: string, to: string) => {
    const data = await readFile(from)
    add({ path: to, mode: 0o755, data })
    if (isElf(data)) programs.push(from)
  }
  await copy(git, '/usr/bin/git')
  for (const name of await readdir(execPath)) {
    const from = posix.join(execPath, name)
    const info = await lstat(from)
    if (info.isSymbolicLink()) add({ path: from, mode: 0o777, link: await readlink(from) })
    else if (info.isFile()) await copy(from, from)
  }
  for (const [program, to] of [
    ['ssh', '/usr/bin/ssh'],
    ['sh', '/bin/sh'],
  ] as const) {
    const from = await which(program)
    if (from) await copy(from, to)
  }
  await addTree(add, '/usr/share/git-core/templates')
  for (const library of await libraries(programs, signal)) {
    add({ path: library, mode: 0o755, data: await readFile(library) })
  }
  for (const bundle of ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt']) {
    const data = await readFile(bundle).catch(() => null)
    if (data) add({ path: bundle, mode: 0o644, data })
  }
  // ssh needs a name for the user it runs as: root, or the agent's own user for a deploy's clone.
  const { uid, gid } = agentUser()
  const passwd = `root:x:0:0:root:/root:/bin/sh\n${uid ? `berth:x:${uid}:${gid}:berth:/root:/bin/sh\n` : ''}`
  add({ path: '/etc/passwd', mode: 0o644, data: Buffer.from(passwd) })
  add({ path: '/etc/group', mode: 0o644, data: Buffer.from(`root:x:0:\n${gid ? `berth:x:${gid}:\n` : ''}`) })
  add({ path: '/etc/nsswitch.conf', mode: 0o644, data: Buffer.from('hosts: files dns\n') })
  add({ path: '/etc/gitconfig', mode: 0o644, data: Buffer.from(SYSTEM_CONFIG) })
  return [...files.values()].sort((a, b) => a.path.localeCompare(b.path))
}

async function whichGit(): Promise<string> {
  const git = await which('git')
  if (!git) {
    throw new OpError(
      'state_error',
      'this host has no git: install git on the host, or use a container that has git of its own',
    )
  }
  return git
}

/** Regular files (a folder's, recursively) added as they are; a missing folder adds nothing. */
async function addTree(add: (file: ImageFile) => void, dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  for (const entry of entries) {
    const path = posix.join(dir, entry.name)
    if (entry.isDirectory()) await addTree(add, path)
    else if (entry.isFile()) add({ path, mode: (await lstat(path)).mode & 0o777, data: await readFile(path) })
  }
}

/** The shared libraries and dynamic loader `programs` load, by the paths the loader looks them up at. */
async function libraries(programs: string[], signal: AbortSignal): Promise<Set<string>> {
  const found = new Set<string>()
  for (const program of programs) {
    const listing = (await hostOutput('ldd', [program], signal)) ?? ''
    for (const [, path] of listing.matchAll(/(\/\S+) \(0x/g)) if (path) found.add(path)
  }
  return found
}

async function which(program: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':').filter(Boolean)) {
    const path = await realpath(posix.join(dir, program)).catch(() => null)
    if (path && (await lstat(path)).isFile()) return path
  }
  return null
}

/** A host program's stdout when it succeeds; these are the agent's own calls, on no user content. */
async function hostOutput(command: string, args: string[], signal: AbortSignal): Promise<string | null> {
  const quiet = { write() {}, end() {} }
  const end = await runProcess(command, args, { cwd: '/', env: process.env, signal, stderr: quiet }).catch(
    () => null,
  )
  return end && end.code === 0 ? end.output : null
}

function isElf(data: Buffer): boolean {
  return data.length > 4 && data.readUInt32BE(0) === 0x7f454c46
}

/** The files as a tar, each folder above them included. */
function packFiles(files: ImageFile[]): Readable {
  const pack = tar.pack()
  const folders = new Set<string>(['/tmp', '/root'])
  for (const file of files) {
    for (let dir = posix.dirname(file.path); dir !== '/'; dir = posix.dirname(dir)) folders.add(dir)
  }
  for (const dir of [...folders].sort()) {
    pack.entry({ name: dir.slice(1), type: 'directory', mode: dir === '/tmp' ? 0o1777 : 0o755 })
  }
  for (const file of files) {
    const name = file.path.slice(1)
    if (file.link !== undefined) pack.entry({ name, type: 'symlink', linkname: file.link, mode: file.mode })
    else pack.entry({ name, mode: file.mode }, file.data)
  }
  pack.finalize()
  return pack
}

/** The path of a git URL that names a directory on this host (file:// or a plain path); null for a network URL. */
export function localPath(url: string): string | null {
  if (url.startsWith('file://')) return decodeURIComponent(url.slice('file://'.length).replace(/^[^/]*/, ''))
  if (/^[a-z][a-z0-9+.-]*::?\/\//i.test(url) || /^[a-z][a-z0-9+.-]*::/i.test(url)) return null
  // git reads `host:path` as ssh unless a slash comes before the colon.
  const colon = url.indexOf(':')
  const slash = url.indexOf('/')
  if (colon > 0 && (slash === -1 || colon < slash)) return null
  return url
}
