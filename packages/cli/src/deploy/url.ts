import { type BerthClient, unwrap } from '@berth/client'

/**
 * Where an app answers: its first domain (the automatic one comes first), else its host port on
 * its server's address (the API's host when the agent reported none). Null before it has a port.
 */
export async function appUrl(
  client: BerthClient,
  { appId, serverId }: { appId: string; serverId: string },
): Promise<string | null> {
  const param = { id: appId }
  // At once: the last line waits for the slowest of the three, not for their sum.
  const [{ app }, { domains }, { server }] = await Promise.all([
    unwrap(client.api.apps[':id'].$get({ param })),
    unwrap(client.api.apps[':id'].domains.$get({ param })),
    unwrap(client.api.servers[':id'].$get({ param: { id: serverId } })),
  ])
  const domain = domains[0]
  if (domain) return `${domain.https === 'off' ? 'http' : 'https'}://${domain.hostname}`
  if (app.host_port === null) return null
  const host = server.ipv4 ?? new URL(client.origin).hostname
  return `http://${host}:${app.host_port}`
}
