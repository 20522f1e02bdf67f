import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type Child, freePorts, spawnProcess, waitFor } from './process.ts'
import { webRequest } from './web.ts'

// Pebble, Let's Encrypt's ACME test server (Debian's pebble), as the ACME directory of the tests:
// it validates HTTP-01 and TLS-ALPN-01 challenges for real, on the ports Caddy listens on, and
// resolves names through its companion pebble-challtestsrv, which answers only the names added.

const run = promisify(execFile)

export interface Pebble {
  /** The ACME directory URL, for an ACME issuer's `ca`. */
  directory: string
  /** The CA of Pebble's own TLS (the directory's): Caddy's SSL_CERT_FILE, curl's --cacert. */
  caFile: string
  /** Where Pebble validates HTTP-01 and TLS-ALPN-01: Caddy's http and https ports. */
  httpPort: number
  tlsPort: number
  /** PEM of the root that issues Pebble's certificates (new at every start), for clients checking them. */
  issuedRootPem(): Promise<string>
  /** Makes `name` resolve to `ip` for Pebble's validation. */
  addHost(name: string, ip: string): Promise<void>
  /** Makes `name` resolve to nothing again. */
  removeHost(name: string): Promise<void>
  stop(): Promise<void>
}

/** A throwaway CA and a certificate for localhost and 127.0.0.1 signed by it; Debian's pebble ships none. */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, 'ca.pem')
  const caKey = join(dir, 'ca.key')
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  const csr = join(dir, 'cert.csr')
  const ext = join(dir, 'cert.ext')
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await run(
    'openssl',
    ['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '2'].concat(
      ['-subj', '/CN=Berth test Pebble CA', '-addext', 'basicConstraints=critical,CA:TRUE'],
      ['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ),
  )
  await run('openssl', ['req', '-new', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=localhost'])
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
  await run(
    'openssl',
    ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial'].concat([
      '-out',
      cert,
      '-days',
      '2',
      '-extfile',
      ext,
    ]),
  )
  return { ca, cert, key }
}

/** Starts pebble-challtestsrv and Pebble; `httpPort`/`tlsPort` are Caddy's (free ones when not given). */
export async function startPebble(ports: { httpPort?: number; tlsPort?: number } = {}): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-pebble-'))
  const children: Child[] = []
  const stop = async () => {
    await Promise.all(children.map((c) => c.stop('SIGTERM', 3000)))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const [dnsPort, dnsAdminPort, acmePort, managementPort, freeHttp, freeTls] = await freePorts(6)
    const httpPort = ports.httpPort ?? (freeHttp as number)
    const tlsPort = ports.tlsPort ?? (freeTls as number)
    const { ca, cert, key } = await makeCertificates(dir)
    const caPem = readFileSync(ca, 'utf8')

    // Only the names a test adds resolve: no default answer, so a name left out fails validation.
    const dns = spawnProcess(
      'pebble-challtestsrv',
      [
        ...['-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${dnsAdminPort}`],
        ...['-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '', '-defaultIPv6', ''],
      ],
      {},
    )
    children.push(dns)
    const dnsAdmin = async (path: string, body: unknown) => {
      const reply = await webRequest(`http://127.0.0.1:${dnsAdminPort}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
      })
      if (reply.status !== 200)
        throw new Error(`pebble-challtestsrv ${path} answered ${reply.status}: ${reply.body}`)
    }
    await waitFor('pebble-challtestsrv to answer', async () => {
      if (!dns.running) throw new Error(`pebble-challtestsrv exited:\n${dns.output}`)
      await dnsAdmin('/clear-a', { host: 'berth-ready.test' })
      return true
    })

    const configFile = join(dir, 'pebble.json')
    writeFileSync(
      configFile,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${managementPort}`,
          certificate: cert,
          privateKey: key,
          httpPort,
          tlsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    )
    // No sleep before validating, and no nonce rejected at random: the tests wait on Caddy, not on Pebble's dice.
    const pebble = spawnProcess('pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`], {
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
    })
    children.push(pebble)
    const directory = `https://127.0.0.1:${acmePort}/dir`
    await waitFor('Pebble to serve its directory', async () => {
      if (!pebble.running) throw new Error(`pebble exited:\n${pebble.output}`)
      return (await webRequest(directory, { ca: caPem })).status === 200
    })

    return {
      directory,
      caFile: ca,
      httpPort,
      tlsPort,
      async issuedRootPem() {
        const reply = await webRequest(`https://127.0.0.1:${managementPort}/roots/0`, { ca: caPem })
        if (reply.status !== 200) throw new Error(`Pebble /roots/0 answered ${reply.status}: ${reply.body}`)
        return reply.body
      },
      addHost: (name, ip) => dnsAdmin('/add-a', { host: name, addresses: [ip] }),
      removeHost: (name) => dnsAdmin('/clear-a', { host: name }),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}
