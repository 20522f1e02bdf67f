import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Client } from '@libsql/client'
import { afterEach, expect, test } from 'vitest'
import type { ActorContext, ServiceContext } from '../context.ts'
import type { Hub } from '../hub/hub.ts'
import { openDatabase } from '../runtime/node/db.ts'
import { configFrom, settingsSchema } from '../settings.ts'
import { authenticateBearer, issueSessionToken } from './auth.ts'
import { endWhenRefused, holdClient, recheckClients } from './clients.ts'
import { registerUser } from './users.ts'

// An open socket is re-checked against its credential; a database that fails for a moment is no
// answer about the credential, so it must not end the socket.

const folders: string[] = []
const clients: Client[] = []
afterEach(() => {
  for (const client of clients.splice(0)) client.close()
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

async function signedIn() {
  const folder = mkdtempSync(join(tmpdir(), 'berth-clients-'))
  folders.push(folder)
  const { db, client } = await openDatabase(`file:${join(folder, 'berth.db')}`)
  clients.push(client)
  const config = { ...configFrom(settingsSchema.parse({}), 'x'.repeat(32)), secretKey: 'y'.repeat(32) }
  const ctx: ServiceContext = { db, hub: {} as Hub, config, clock: { now: () => Date.now() } }
  const user = await registerUser(ctx, { email: 'a@example.com', password: 'a long password' })
  const { token } = await issueSessionToken(ctx, { id: user.id, sessionEpoch: 0 })
  const actorCtx: ActorContext = { ...ctx, actor: await authenticateBearer(ctx, token) }
  return { ctx: actorCtx, client, token, userId: user.id }
}

test('a socket stays open when its re-check cannot reach the database', async () => {
  const { ctx, client, token, userId } = await signedIn()
  const hold = holdClient(ctx, { bearer: token, socket: true, streams: 0 })
  const refusals: string[] = []
  endWhenRefused(hold, { level: 'read', refused: (err) => refusals.push(err.kind) })

  client.close()
  await recheckClients(ctx, { userId })

  expect(refusals).toEqual([])
  hold.release()
})
