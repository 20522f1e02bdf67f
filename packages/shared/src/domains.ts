import { z } from 'zod'

// Domains: the REST bodies, and what the agent is told to route through its host's Caddy.

/**
 * How a domain is served: `auto` gets a certificate by ACME (HTTP-01 through Caddy), `internal`
 * one from Caddy's local CA, `off` serves plain HTTP only.
 */
export const HTTPS_MODES = ['auto', 'internal', 'off'] as const
export type HttpsMode = (typeof HTTPS_MODES)[number]

/** Where a domain's certificate stands, as read back from the host's Caddy. */
export const CERTIFICATE_STATES = ['pending', 'active', 'failed'] as const
export type CertificateState = (typeof CERTIFICATE_STATES)[number]

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/

/**
 * A hostname as Berth keeps it: lower case, IDNs as punycode (`bücher.example` →
 * `xn--bcher-kva.example`), at least two labels, no trailing dot, no IP address. A leading `*.`
 * makes a wildcard. Null when `input` is not a hostname. Uses only `URL`, so it runs alike on
 * Node and Workers.
 */
export function normalizeHostname(input: string): string | null {
  const trimmed = input.trim()
  if (trimmed.length === 0 || trimmed.length > 253 || /[\s/\\?#@:%]/.test(trimmed)) return null
  const wildcard = trimmed.startsWith('*.')
  const rest = wildcard ? trimmed.slice(2) : trimmed
  let ascii: string
  try {
    ascii = new URL(`http://${rest}`).hostname
  } catch {
    return null
  }
  if (ascii.endsWith('.') || ascii.startsWith('[') || IPV4.test(ascii)) return null
  const labels = ascii.split('.')
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return null
  const full = wildcard ? `*.${ascii}` : ascii
  return full.length <= 253 ? full : null
}

export const hostname = z
  .string()
  .max(300)
  .transform((value, ctx) => {
    const normal = normalizeHostname(value)
    if (normal === null) {
      ctx.addIssue({ code: 'custom', message: 'a DNS hostname such as app.example.com' })
      return z.NEVER
    }
    return normal
  })

/** `POST /apps/:id/domains`. */
export const createDomainBody = z
  .object({
    hostname,
    https: z.enum(HTTPS_MODES).default('auto'),
    /** Plain-HTTP requests are answered with a redirect to HTTPS (ignored when `https` is off). */
    redirect_http: z.boolean().default(true),
    /** Requests to this hostname are redirected to another of the app's domains (`www` → apex). */
    redirect_to: hostname.optional(),
  })
  .strict()
  .refine((d) => !(d.hostname.startsWith('*.') && d.https === 'auto'), {
    message: 'a wildcard needs a DNS-01 certificate, which Berth does not get; use https internal or off',
    path: ['https'],
  })
  .refine((d) => d.redirect_to !== d.hostname, {
    message: 'a domain cannot redirect to itself',
    path: ['redirect_to'],
  })
export type CreateDomainBody = z.infer<typeof createDomainBody>

export const certificateStatus = z.object({
  hostname: z.string(),
  status: z.enum(CERTIFICATE_STATES),
  /** Why it failed, in Caddy's words. */
  reason: z.string().nullable(),
  /** When the certificate Caddy serves expires, ms since the epoch. */
  expires_at: z.number().nullable(),
  /** Who issued it (the certificate's issuer common name). */
  issuer: z.string().nullable(),
})
export type CertificateStatus = z.infer<typeof certificateStatus>

/** A domain as `GET /apps/:id/domains` shows it. */
export const domainView = z.object({
  id: z.string(),
  app_id: z.string(),
  hostname: z.string(),
  https: z.enum(HTTPS_MODES),
  redirect_http: z.boolean(),
  redirect_to: z.string().nullable(),
  /** The domain every app gets from its server's base domain; it cannot be removed. */
  automatic: z.boolean(),
  /** Null for `https: off`; `expires_at` as an ISO time, like every time the API shows. */
  certificate: certificateStatus
    .omit({ hostname: true, expires_at: true })
    .extend({ expires_at: z.string().nullable() })
    .nullable(),
  created_at: z.string().nullable(),
})
export type DomainView = z.infer<typeof domainView>

// ---------------------------------------------------------------- what the agent is told

/** One hostname of an app, as the agent routes it. */
export const proxyDomain = z
  .object({
    hostname: z.string(),
    https: z.enum(HTTPS_MODES),
    redirect_http: z.boolean(),
    redirect_to: z.string().nullable(),
  })
  .strict()
export type ProxyDomain = z.infer<typeof proxyDomain>

export const appRoutes = z.object({ app_id: z.string(), domains: z.array(proxyDomain).max(100) }).strict()
export type AppRoutes = z.infer<typeof appRoutes>

/** A server's settings for the certificates its Caddy gets. */
export const proxySettings = z
  .object({
    /** The ACME directory for `https: auto`; Let's Encrypt's when null. */
    acme_directory: z.string().url().nullable(),
    acme_email: z.string().email().nullable(),
  })
  .strict()
export type ProxySettings = z.infer<typeof proxySettings>

/** The front door the agent found on its host: its Caddy, or none (null). */
export const proxyInfo = z
  .object({ kind: z.literal('caddy'), version: z.string().max(64).nullable() })
  .strict()
export type ProxyInfo = z.infer<typeof proxyInfo>

/** The data of an agent's `proxy.state` event: its host's Caddy came or went. */
export const proxyStateEvent = z.object({ proxy: proxyInfo.nullable() })

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory'
export const LETS_ENCRYPT_STAGING_DIRECTORY = 'https://acme-staging-v02.api.letsencrypt.org/directory'

/**
 * The hostname every app of a server gets: `<app>.<base_domain>`, or, with no base domain, the
 * sslip.io name of the server's address (`<app>.203-0-113-7.sslip.io`); null when neither is known.
 */
export function automaticHostname(
  app: string,
  baseDomain: string | null,
  ipv4: string | null,
): string | null {
  if (baseDomain) return normalizeHostname(`${app}.${baseDomain.replace(/^\*\./, '')}`)
  if (ipv4 && IPV4.test(ipv4)) return `${app}.${ipv4.replaceAll('.', '-')}.sslip.io`
  return null
}
