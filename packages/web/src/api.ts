import { BerthError, createClient, unwrap } from '@berth/client'
import { computed } from '@preact/signals'
import { session, signOut } from './session.ts'

// The typed client of the API this page came from, as the signed-in user.

export const client = computed(() => createClient({ url: location.origin, token: session.value?.token }))

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
