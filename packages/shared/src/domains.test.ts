import { describe, expect, test } from 'vitest'
import { automaticHostname, createDomainBody, normalizeHostname } from './domains.ts'

describe('normalizeHostname', () => {
  test('keeps a hostname lower case, without surrounding space', () => {
    expect(normalizeHostname('  Shop.Example.COM ')).toBe('shop.example.com')
  })

  test('turns an IDN into punycode', () => {
    expect(normalizeHostname('bücher.example')).toBe('xn--bcher-kva.example')
    expect(normalizeHostname('*.BÜCHER.example')).toBe('*.xn--bcher-kva.example')
  })

  test('refuses a trailing dot, a single label and IP literals', () => {
    for (const input of ['example.com.', 'localhost', '203.0.113.7', '[::1]', '[2001:db8::1]']) {
      expect(normalizeHostname(input), input).toBeNull()
    }
  })

  test('refuses a label over 63 characters and a name over 253', () => {
    expect(normalizeHostname(`${'a'.repeat(63)}.example`)).toBe(`${'a'.repeat(63)}.example`)
    expect(normalizeHostname(`${'a'.repeat(64)}.example`)).toBeNull()
    const long = Array.from({ length: 5 }, () => 'b'.repeat(60)).join('.')
    expect(long.length).toBeGreaterThan(253)
    expect(normalizeHostname(long)).toBeNull()
  })

  test('refuses what is not a hostname: paths, ports, users, spaces, edge hyphens, empty labels', () => {
    for (const input of [
      '',
      'a.example/x',
      'a.example:8080',
      'me@a.example',
      'a b.example',
      '-a.example',
      'a-.example',
      'a..example',
      'under_score.example',
    ]) {
      expect(normalizeHostname(input), input).toBeNull()
    }
  })

  test('takes a wildcard only as the whole first label', () => {
    expect(normalizeHostname('*.example.com')).toBe('*.example.com')
    for (const input of ['*example.com', 'a.*.example.com', '*.*.example.com', '*.com.']) {
      expect(normalizeHostname(input), input).toBeNull()
    }
  })
})

describe('automaticHostname', () => {
  test('is the app under the base domain, a wildcard base domain included', () => {
    expect(automaticHostname('web', 'apps.example.com', '203.0.113.7')).toBe('web.apps.example.com')
    expect(automaticHostname('web', '*.apps.example.com', null)).toBe('web.apps.example.com')
  })

  test('is the sslip.io name of the server address without a base domain', () => {
    expect(automaticHostname('web', null, '203.0.113.7')).toBe('web.203-0-113-7.sslip.io')
  })

  test('is null with neither, or with an address that is not IPv4', () => {
    expect(automaticHostname('web', null, null)).toBeNull()
    expect(automaticHostname('web', null, '2001:db8::1')).toBeNull()
  })
})

describe('createDomainBody', () => {
  test('normalises the hostname and fills the defaults', () => {
    expect(createDomainBody.parse({ hostname: 'WWW.Bücher.example', redirect_to: 'bücher.example' })).toEqual(
      {
        hostname: 'www.xn--bcher-kva.example',
        https: 'auto',
        redirect_http: true,
        redirect_to: 'xn--bcher-kva.example',
      },
    )
  })

  test('refuses a wildcard with https auto and takes it with internal or off', () => {
    const auto = createDomainBody.safeParse({ hostname: '*.example.com' })
    expect(auto.success).toBe(false)
    expect(auto.error?.issues[0]?.path).toEqual(['https'])
    expect(createDomainBody.parse({ hostname: '*.example.com', https: 'internal' }).hostname).toBe(
      '*.example.com',
    )
    expect(createDomainBody.parse({ hostname: '*.example.com', https: 'off' }).https).toBe('off')
  })

  test('refuses a redirect to itself, a bad hostname and unknown fields', () => {
    for (const body of [
      { hostname: 'a.example', redirect_to: 'A.example' },
      { hostname: 'not a host' },
      { hostname: 'a.example', https: 'sometimes' },
      { hostname: 'a.example', port: 80 },
    ]) {
      expect(createDomainBody.safeParse(body).success, JSON.stringify(body)).toBe(false)
    }
  })
})
