import { type Child, waitFor } from './process.ts'

/** A small HTTP client for the tests: JSON in and out, the status and headers kept. */
export interface Reply<T = any> {
  status: number
  headers: Headers
  body: T
  text: string
}

export interface RequestOptions {
  token?: string
  body?: unknown
  raw?: BodyInit
  headers?: Record<string, string>
}

export function client(baseUrl: string) {
  async function request<T = any>(
    method: string,
    path: string,
    opts: RequestOptions = {},
  ): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`
    let body: BodyInit | undefined = opts.raw
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body)
      headers['Content-Type'] ??= 'application/json'
    }
    // A stream goes out as it is read (chunked), which fetch takes only half duplex.
    const init = { method, headers, body, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) }
    const res = await fetch(`${baseUrl}/api/v1${path}`, init as RequestInit)
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      // not JSON: the text is the body
    }
    return { status: res.status, headers: res.headers, body: parsed as T, text }
  }
  return {
    request,
    get: <T = any>(path: string, opts?: RequestOptions) => request<T>('GET', path, opts),
    post: <T = any>(path: string, opts?: RequestOptions) => request<T>('POST', path, opts),
    patch: <T = any>(path: string, opts?: RequestOptions) => request<T>('PATCH', path, opts),
    delete: <T = any>(path: string, opts?: RequestOptions) => request<T>('DELETE', path, opts),
  }
}

export type Client = ReturnType<typeof client>

/** Waits until a freshly started API answers /health; fails early, with its output, if it exits. */
export function waitForHealth(http: Client, child: Child, what: string, timeoutMs = 30_000, everyMs = 100) {
  return waitFor(
    `${what} to answer /health`,
    async () => {
      if (!child.running) throw new Error(`${what} exited:\n${child.output}`)
      return (await http.get('/health')).status === 200
    },
    timeoutMs,
    everyMs,
  )
}
