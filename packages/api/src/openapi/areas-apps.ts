import { DEPLOYMENT_STATES, deployBody, domainView, logLine } from '@berth/shared'
import { z } from 'zod'
import { AGENT_ERRORS, type Area, bytes, eventStream, json, noContent, one, page, view } from './spec.ts'

const app = view(
  { id: z.string(), name: z.string(), server_id: z.string(), status: z.string().nullable() },
  '{id, name, server_id, source, port, host_port, env_keys, volumes, resources, instances, ports, health_check, auto_deploy, deadlines, build_resources, status, current_deployment_id, deploy_key, created_at, updated_at}',
)
const deployment = view(
  { id: z.string(), app_id: z.string(), state: z.enum(DEPLOYMENT_STATES), reason: z.string().nullable() },
  '{id, app_id, server_id, state, reason, trigger, source, image, commit, rollback_of, created_by, created_at, started_at, finished_at}',
)
const env = z.object({
  env: z.array(z.object({ key: z.string(), value: z.string().nullable(), updated_at: z.string() })),
})
const deployKey = one('deploy_key', z.object({ public_key: z.string(), created_at: z.string().nullable() }))
const webhook = view(
  { id: z.string(), app_id: z.string(), provider: z.enum(['github', 'gitlab', 'gitea']), url: z.string() },
  '{id, app_id, provider, url, branch, created_at}',
)
const delivery = view(
  { id: z.string(), status: z.enum(['success', 'failed', 'skipped']) },
  '{id, delivery_id, event, status, reason, deployment_id, received_at}',
)

const delivered = view(
  { status: z.enum(['success', 'failed', 'skipped', 'pong']) },
  '{status, deployment_id?, reason?}',
)

export const appArea: Area = {
  tag: 'apps',
  description: 'Apps: what to deploy, how to run it, how to tell it is healthy; their env and deploy keys.',
  operations: {
    'GET /apps': { id: 'listApps', summary: 'List apps', ok: json(200, 'A page of apps', page('apps', app)) },
    'POST /apps': {
      id: 'createApp',
      summary: 'Create an app',
      ok: json(201, 'The app is created', one('app', app)),
      errors: ['conflict'],
    },
    'GET /apps/{id}': { id: 'getApp', summary: 'Get an app', ok: json(200, 'The app', one('app', app)) },
    'PATCH /apps/{id}': {
      id: 'updateApp',
      summary: 'Change an app (takes effect on the next deploy)',
      ok: json(200, 'The app as changed', one('app', app)),
    },
    'DELETE /apps/{id}': {
      id: 'deleteApp',
      summary: 'Delete an app and its containers',
      ok: noContent('The app and its containers are removed'),
      errors: AGENT_ERRORS,
    },
    'GET /apps/{id}/env': {
      id: 'listAppEnv',
      summary: "An app's env (values with reveal=true)",
      ok: json(200, 'The env keys, and values when revealed', env),
    },
    'PUT /apps/{id}/env': {
      id: 'setAppEnv',
      summary: "Merge into an app's env (null deletes a key)",
      ok: json(200, 'The env as it is now', env),
    },
    'DELETE /apps/{id}/env/{key}': {
      id: 'deleteAppEnvKey',
      summary: "Remove a key from an app's env",
      ok: noContent('The key is removed'),
    },
    'GET /apps/{id}/deploy-key': {
      id: 'getDeployKey',
      summary: "The public half of an app's deploy key",
      ok: json(200, 'The public key, to add to the repository', deployKey),
    },
    'POST /apps/{id}/deploy-key': {
      id: 'regenerateDeployKey',
      summary: 'Make a new deploy key pair for an app',
      ok: json(201, 'The new public key', deployKey),
    },
    'GET /apps/{id}/health': {
      id: 'getAppHealth',
      summary: "An app's health checks and restarts",
      ok: json(
        200,
        'The latest results, newest first',
        one(
          'health',
          view({ app_id: z.string(), status: z.string() }, '{app_id, check, status, results, restarts}'),
        ),
      ),
    },
    'GET /apps/{id}/stats': {
      id: 'getAppStats',
      summary: "The stats series of an app's running containers",
      ok: json(
        200,
        'One series per container',
        z.object({ stats: z.array(z.looseObject({ container_id: z.string() })) }),
      ),
    },
  },
}

export const domainArea: Area = {
  tag: 'domains',
  description: "An app's hostnames, served by its server's Caddy.",
  operations: {
    'GET /apps/{id}/domains': {
      id: 'listDomains',
      summary: "List an app's domains",
      ok: json(
        200,
        'The automatic domain first, then the others',
        z.object({ domains: z.array(domainView) }),
      ),
    },
    'POST /apps/{id}/domains': {
      id: 'addDomain',
      summary: 'Add a domain to an app',
      ok: json(201, 'The domain is added and routed', one('domain', domainView)),
      errors: [...AGENT_ERRORS, 'conflict', 'state_error'],
    },
    'DELETE /apps/{id}/domains/{did}': {
      id: 'removeDomain',
      summary: 'Remove a domain from an app',
      ok: noContent('The domain is removed; its route leaves Caddy'),
      errors: [...AGENT_ERRORS, 'state_error'],
    },
  },
}

export const deploymentArea: Area = {
  tag: 'deployments',
  description: 'Deployments of apps: queued, built and rolled out by the server agent, with their output.',
  operations: {
    'POST /apps/{id}/deploy': {
      id: 'deployApp',
      summary: 'Deploy an app',
      description:
        'An upload app sends its source: the `.tar.gz` itself, or a multipart form with it in `file`.',
      body: {
        description: 'JSON options, or the tarball of an upload app',
        required: false,
        content: {
          'application/json': { schema: z.toJSONSchema(deployBody, { io: 'input', unrepresentable: 'any' }) },
          ...bytes('application/gzip'),
          'multipart/form-data': {
            schema: {
              type: 'object',
              properties: { file: { type: 'string', contentMediaType: 'application/gzip' } },
              required: ['file'],
            },
          },
        },
      },
      ok: json(202, 'The deployment is queued', one('deployment', deployment)),
      errors: [...AGENT_ERRORS, 'state_error'],
    },
    'GET /apps/{id}/deployments': {
      id: 'listDeployments',
      summary: "List an app's deployments, newest first",
      ok: json(200, 'A page of deployments', page('deployments', deployment)),
    },
    'POST /apps/{id}/rollback': {
      id: 'rollbackApp',
      summary: 'Deploy the image of an earlier deployment again',
      ok: json(202, 'The rollback deployment is queued', one('deployment', deployment)),
      errors: ['state_error'],
    },
    'GET /deployments/{id}': {
      id: 'getDeployment',
      summary: 'Get a deployment',
      ok: json(200, 'The deployment', one('deployment', deployment)),
    },
    'POST /deployments/{id}/cancel': {
      id: 'cancelDeployment',
      summary: 'Cancel a deployment before it serves',
      ok: json(202, 'The deployment is being cancelled', one('deployment', deployment)),
      errors: ['state_error'],
    },
    'GET /deployments/{id}/logs': {
      id: 'getDeploymentLogs',
      summary: "A deployment's build and deploy output",
      description:
        'With `follow=true` (or `Accept: text/event-stream`): server-sent events, `log` per line (its id the seq), `state` as the deployment moves on, `end {state, reason}` when it is over, `error` once the credential no longer allows it. `Last-Event-ID` resumes after that seq.',
      ok: {
        status: 200,
        description: 'The stored lines, or (follow=true) a stream of them',
        json: z.object({ lines: z.array(logLine), state: z.enum(DEPLOYMENT_STATES) }),
        content: eventStream(
          'events log {seq, at, stream, text}; state {state}; end {state, reason}; error {error body}',
        ),
      },
      errors: ['rate_limited'],
    },
  },
}

export const webhookArea: Area = {
  tag: 'webhooks',
  description: "Git providers' push deliveries that deploy apps, and the webhooks that receive them.",
  operations: {
    'GET /apps/{id}/webhooks': {
      id: 'listWebhooks',
      summary: "List an app's webhooks",
      ok: json(200, 'The webhooks', page('webhooks', webhook)),
    },
    'POST /apps/{id}/webhooks': {
      id: 'createWebhook',
      summary: 'Create a webhook for an app',
      ok: json(
        201,
        'The webhook; `secret` is shown only here',
        one('webhook', webhook.extend({ secret: z.string() })),
      ),
    },
    'GET /apps/{id}/webhooks/{wid}': {
      id: 'getWebhook',
      summary: 'Get a webhook',
      ok: json(200, 'The webhook', one('webhook', webhook)),
    },
    'DELETE /apps/{id}/webhooks/{wid}': {
      id: 'deleteWebhook',
      summary: 'Delete a webhook',
      ok: noContent('The webhook is deleted'),
    },
    'GET /apps/{id}/webhooks/{wid}/deliveries': {
      id: 'listWebhookDeliveries',
      summary: "List a webhook's deliveries",
      ok: json(200, 'A page of deliveries', page('deliveries', delivery)),
    },
    'POST /webhooks/{provider}/{appId}': {
      id: 'receiveWebhook',
      summary: "Receive a git provider's delivery",
      description:
        'No bearer token: the signature is the authentication (`X-Hub-Signature-256`, `X-Gitlab-Token` or `X-Gitea-Signature`), compared in constant time.',
      body: {
        description: "The provider's delivery, as it signed it",
        required: true,
        content: { 'application/json': { schema: { type: 'object' } } },
      },
      ok: json(202, 'A push that deploys: `{status: "success", deployment_id}`', delivered),
      also: [json(200, 'A delivery recorded as skipped or failed (with its reason), or a ping', delivered)],
      errors: ['auth_error', 'conflict'],
    },
  },
}
