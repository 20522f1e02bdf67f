import { readFile } from 'node:fs/promises'

// Caddy (2.6 on Linux) opens a new SO_REUSEPORT socket on every address at each config load and
// closes the old one; the kernel resets the connections still queued on the closed socket unless
// net.ipv4.tcp_migrate_req (Linux 5.14+) moves them to the new one. Every deploy's switch is a load.

/** Where Linux says whether a closing listener's queued connections move to another of its group. */
export const TCP_MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req'

/** The warning for a host whose kernel resets connections queued at a Caddy config load; null otherwise. */
export async function configLoadWarning(path = TCP_MIGRATE_REQ): Promise<string | null> {
  const value = await readFile(path, 'utf8').catch(() => null)
  if (value?.trim() !== '0') return null
  return (
    'net.ipv4.tcp_migrate_req is 0 on this host: a connection that arrives while Caddy loads a ' +
    'config (each deploy switch does) can be reset; set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1, ' +
    'and in /etc/sysctl.d to keep it)'
  )
}
