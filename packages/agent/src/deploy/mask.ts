/** What replaces a secret in output that leaves the host. */
export const MASK = '****'

/** Values shorter than this are not masked: "a" or "no" would blank out ordinary words. */
const MIN_SECRET_LENGTH = 3

/** The password of a URL's userinfo: `scheme://user:password@`. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s/@]+@/gi

export type Masker = (text: string) => string

/**
 * Replaces every given secret, and the password of any URL, by `****`. A secret spanning lines (an
 * ssh key) is masked line by line too, since output is split into lines before it is masked.
 */
export function masker(secrets: readonly (string | undefined)[]): Masker {
  const values = new Set<string>()
  for (const secret of secrets) {
    if (!secret) continue
    for (const part of [secret, ...secret.split(/\r?\n/)]) {
      const trimmed = part.trim()
      if (trimmed.length >= MIN_SECRET_LENGTH) values.add(trimmed)
    }
  }
  // Longest first, so a secret that contains another is masked whole.
  const sorted = [...values].sort((a, b) => b.length - a.length)
  const secretPattern = sorted.length > 0 ? new RegExp(sorted.map(escapeRegExp).join('|'), 'g') : null
  return (text) => {
    const masked = secretPattern ? text.replace(secretPattern, MASK) : text
    return masked.replace(URL_PASSWORD, `$1${MASK}@`)
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
