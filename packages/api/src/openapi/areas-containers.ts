import { containerDetailView, containerView, ops } from '@berth/shared'
import { z } from 'zod'
import {
  AGENT_ERRORS,
  type Area,
  bytes,
  eventStream,
  json,
  noContent,
  type Operation,
  one,
  upgrade,
} from './spec.ts'

const container = one('container', containerDetailView)
const recreated = z.object({ container: containerDetailView, recreated: z.boolean() })
// Inspected live, or the last known copy (without what only Docker knows) while the agent is offline.
const inspected = one(
  'container',
  z.union([
    containerDetailView.extend({ stale: z.literal(false) }),
    containerView.extend({ stale: z.literal(true) }),
  ]),
)
const logEntry = z.object({
  stream: z.enum(['stdout', 'stderr']),
  line: z.string(),
  ts: z.string().optional(),
})
const pair = <A extends string, B extends string>(a: A, b: B) =>
  z.object({ [a]: z.number(), [b]: z.number() })
const stats = z.object({
  container_id: z.string(),
  at: z.string(),
  cpu: pair('percent', 'limit'),
  memory: pair('used', 'limit'),
  network: pair('rx', 'tx'),
  block_io: pair('read', 'write'),
  pids: z.number(),
})
const git = z
  .looseObject(ops['git.run'].result.shape)
  .describe("git's outcome; head adds sha and subject, branches local and remote, branch name")
const files = z.object({ files: z.object({ path: z.string(), entries: z.number(), bytes: z.number() }) })

const TERMINAL_FRAMES = [
  'Client frames: `{"type":"stdin","data","encoding":"utf8"|"base64"}`, `{"type":"resize","cols","rows"}`,',
  '`{"type":"signal","name":"INT"|"TERM"|"KILL"|"HUP"|"QUIT"}`, `{"type":"close"}`.',
  'Server frames: `{"type":"stdout"|"stderr","data","encoding"}` (base64), `{"type":"exit","code"}` then the',
  'socket closes, `{"type":"error","error"}` with the error body. A browser authenticates with the',
  'subprotocols `berth.v1` and `bearer.<token>`; close codes 4401 and 4403 when the credential no longer allows it.',
].join(' ')

const action = (id: string, summary: string): Operation => ({
  id,
  summary,
  ok: json(200, 'The container after the action', container),
  errors: [...AGENT_ERRORS, 'state_error'],
})

const gitOp = (id: string, summary: string): Operation => ({
  id,
  summary,
  ok: json(200, 'What git did', one('git', git)),
  errors: [...AGENT_ERRORS, 'state_error'],
})

const C = '/servers/{sid}/containers'

export const containerArea: Area = {
  tag: 'containers',
  description:
    'Containers on a server, through its agent; `cid` is a Berth id, a Docker id (or prefix) or a name.',
  operations: {
    [`GET ${C}`]: {
      id: 'listContainers',
      summary: 'List containers',
      description: "The API's copy, so it answers while the agent is offline too (then `stale: true`).",
      ok: json(
        200,
        'A page of containers',
        z.object({
          containers: z.array(containerView),
          next_cursor: z.string().nullable(),
          stale: z.boolean(),
        }),
      ),
    },
    'GET /containers': {
      id: 'listAllContainers',
      summary: 'List the containers of every server',
      description:
        "The API's copy across servers (or of one, `server_id`), with the filters of a server's list; pages of up to 2000.",
      ok: json(
        200,
        'A page of containers',
        z.object({ containers: z.array(containerView), next_cursor: z.string().nullable() }),
      ),
    },
    [`POST ${C}`]: {
      id: 'createContainer',
      summary: 'Create (and start) a container',
      ok: json(201, 'The container is created', container),
      errors: [...AGENT_ERRORS, 'conflict'],
    },
    [`GET ${C}/{cid}`]: {
      id: 'getContainer',
      summary: 'Inspect a container',
      ok: json(200, 'The container, inspected live (or the last known copy, stale)', inspected),
      errors: AGENT_ERRORS,
    },
    [`PATCH ${C}/{cid}`]: {
      id: 'updateContainer',
      summary: 'Change env, tags, resources or image',
      ok: json(200, 'The container; `recreated` when env or image changed', recreated),
      errors: [...AGENT_ERRORS, 'conflict'],
    },
    [`PUT ${C}/{cid}/ports`]: {
      id: 'replaceContainerPorts',
      summary: "Replace a container's port bindings",
      ok: json(200, 'The container, recreated', recreated),
      errors: [...AGENT_ERRORS, 'conflict'],
    },
    [`DELETE ${C}/{cid}`]: {
      id: 'removeContainer',
      summary: 'Remove a container',
      ok: noContent('The container is removed'),
      errors: [...AGENT_ERRORS, 'conflict'],
    },
    [`POST ${C}/{cid}/start`]: action('startContainer', 'Start a container'),
    [`POST ${C}/{cid}/stop`]: action('stopContainer', 'Stop a container'),
    [`POST ${C}/{cid}/restart`]: action('restartContainer', 'Restart a container'),
    [`POST ${C}/{cid}/pause`]: action('pauseContainer', 'Pause a container'),
    [`POST ${C}/{cid}/unpause`]: action('unpauseContainer', 'Unpause a container'),
    [`POST ${C}/{cid}/kill`]: action('killContainer', 'Send a signal to a container'),
    [`GET ${C}/{cid}/logs`]: {
      id: 'getContainerLogs',
      summary: "A container's log",
      description:
        'With `follow=true`: server-sent events `stdout` and `stderr` whose data is `{stream, line, ts?}`, a last `end` when the container stops, and `error` (the error body) once the credential no longer allows it.',
      ok: {
        status: 200,
        description: 'The log lines, or (follow=true) a stream of them',
        json: z.object({ logs: z.array(logEntry) }),
        content: eventStream('events stdout, stderr {stream, line, ts?}; end {reason}; error {error body}'),
      },
      errors: [...AGENT_ERRORS, 'rate_limited'],
    },
    [`GET ${C}/{cid}/stats`]: {
      id: 'getContainerStats',
      summary: "A container's resource use, sampled now",
      ok: json(200, 'One sample', one('stats', stats)),
      errors: AGENT_ERRORS,
    },
    [`GET ${C}/{cid}/stats/history`]: {
      id: 'getContainerStatsHistory',
      summary: "A container's recorded samples",
      ok: json(
        200,
        'The samples since `since`',
        z.object({ container_id: z.string(), samples: z.array(z.looseObject({ at: z.string() })) }),
      ),
    },
    [`POST ${C}/{cid}/files`]: {
      id: 'putContainerFiles',
      summary: 'Unpack an archive into a directory of a container',
      body: {
        description: 'A tar (gzipped too) or a zip; refused whole when against the archive policy',
        content: bytes('application/x-tar', 'application/zip'),
        required: true,
      },
      ok: json(201, 'The archive is unpacked', files),
      errors: AGENT_ERRORS,
    },
    [`GET ${C}/{cid}/files`]: {
      id: 'getContainerFiles',
      summary: 'Download a file, or a directory as a tar or zip',
      ok: {
        status: 200,
        description: 'The file as is, or the directory as an archive (Content-Disposition: attachment)',
        content: bytes('application/octet-stream', 'application/x-tar', 'application/zip'),
      },
      errors: AGENT_ERRORS,
    },
    [`POST ${C}/{cid}/git/init`]: gitOp('gitInit', 'git init in a container'),
    [`POST ${C}/{cid}/git/pull`]: gitOp('gitPull', 'git pull --ff-only in a container'),
    [`POST ${C}/{cid}/git/checkout`]: gitOp('gitCheckout', 'Switch to (or create) a branch'),
    [`GET ${C}/{cid}/git/head`]: gitOp('gitHead', 'The last commit of a checkout'),
    [`GET ${C}/{cid}/git/branches`]: gitOp('gitBranches', 'The local and remote-tracking branches'),
    [`GET ${C}/{cid}/git/branch`]: gitOp('gitBranch', 'The current branch'),
    [`GET ${C}/{cid}/exec`]: {
      id: 'openTerminal',
      summary: 'A terminal in a running container (WebSocket)',
      ok: upgrade(TERMINAL_FRAMES),
      errors: [...AGENT_ERRORS, 'rate_limited'],
    },
  },
}

const S = '/servers/{sid}'

export const hostObjectArea: Area = {
  tag: 'host objects',
  description: 'Images, volumes and networks of a server.',
  operations: {
    [`GET ${S}/images`]: {
      id: 'listImages',
      summary: 'List images',
      ok: json(200, 'The images', ops['image.list'].result),
      errors: AGENT_ERRORS,
    },
    [`POST ${S}/images/pull`]: {
      id: 'pullImage',
      summary: 'Pull an image',
      ok: json(200, 'The image', ops['image.pull'].result),
      errors: AGENT_ERRORS,
    },
    [`POST ${S}/images/prune`]: {
      id: 'pruneImages',
      summary: 'Remove unused images',
      ok: json(200, 'What was removed', ops['image.prune'].result),
      errors: AGENT_ERRORS,
    },
    [`DELETE ${S}/images/{ref}`]: {
      id: 'removeImage',
      summary: 'Remove an image (the reference may hold / and :)',
      ok: json(200, 'What was deleted and untagged', ops['image.remove'].result),
      errors: [...AGENT_ERRORS, 'conflict'],
    },
    [`GET ${S}/volumes`]: {
      id: 'listVolumes',
      summary: 'List volumes',
      ok: json(200, 'The volumes', ops['volume.list'].result),
      errors: AGENT_ERRORS,
    },
    [`POST ${S}/volumes`]: {
      id: 'createVolume',
      summary: 'Create a volume',
      ok: json(201, 'The volume', ops['volume.create'].result),
      errors: [...AGENT_ERRORS, 'conflict'],
    },
    [`POST ${S}/volumes/prune`]: {
      id: 'pruneVolumes',
      summary: 'Remove unused volumes',
      ok: json(200, 'What was removed', ops['volume.prune'].result),
      errors: AGENT_ERRORS,
    },
    [`DELETE ${S}/volumes/{name}`]: {
      id: 'removeVolume',
      summary: 'Remove a volume',
      ok: noContent('The volume is removed'),
      errors: [...AGENT_ERRORS, 'conflict'],
    },
    [`GET ${S}/networks`]: {
      id: 'listNetworks',
      summary: 'List networks',
      ok: json(200, 'The networks', ops['network.list'].result),
      errors: AGENT_ERRORS,
    },
    [`POST ${S}/networks`]: {
      id: 'createNetwork',
      summary: 'Create a network',
      ok: json(201, 'The network', ops['network.create'].result),
      errors: [...AGENT_ERRORS, 'conflict'],
    },
    [`DELETE ${S}/networks/{ref}`]: {
      id: 'removeNetwork',
      summary: 'Remove a network (by id or name)',
      ok: noContent('The network is removed'),
      errors: [...AGENT_ERRORS, 'conflict'],
    },
  },
}
