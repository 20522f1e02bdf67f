import { BerthError, createClient, unwrap } from '@berth/client'
import { computed } from '@preact/signals'
import { session, signOut } from './session.ts'

// The typed client of the API this page came from, as the signed-in user.

export const client = computed(() =>
  createClient({ url: location.origin, token: session.value?.token, fetch: retryingFetch }),
)

/** Waits before asking again, for a read the browser cut off. */
const RETRY_DELAYS_MS = [250, 1000]

/**
 * The browser cuts off requests in flight when the machine's network changes under them (a new
 * Wi-Fi, a VPN, an interface coming up: Chromium's ERR_NETWORK_CHANGED), with no answer. A read
 * is asked again, twice at most; anything else is not, since it may have been done.
 */
async function retryingFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()
  const read = method === 'GET' || method === 'HEAD'
  for (const delay of RETRY_DELAYS_MS) {
    try {
      return await fetch(input, init)
    } catch (err) {
      if (!read || !(err instanceof TypeError) || init?.signal?.aborted) throw err
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
  return fetch(input, init)
}

/** The typed routes under /api/v1 (`api().servers.$get()`). */
export const api = () => client.value.api

/**
 * The body of a typed call's success, or its BerthError thrown. A session the API no longer
 * accepts signs the tab out, so the sign-in page shows instead of a page of errors.
 */
export const call: typeof unwrap = async (request) => {
  try {
    return await unwrap(request)
  } catch (err) {
    if (err instanceof BerthError && err.status === 401 && session.value) signOut()
    throw err
  }
}

export { BerthError }
