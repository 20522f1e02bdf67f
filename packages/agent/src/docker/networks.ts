import { z } from 'zod'
import { createdReply, type NetworkListing, networkListing } from './replies.ts'
import type { Transport } from './transport.ts'

/** Networks, and the containers joined to them. */
export interface NetworkClient {
  listNetworks(signal?: AbortSignal): Promise<NetworkListing[]>
  inspectNetwork(ref: string, signal?: AbortSignal): Promise<NetworkListing>
  /** Creates a network; returns its id. */
  createNetwork(spec: NetworkSpec, signal?: AbortSignal): Promise<string>
  removeNetwork(ref: string, signal?: AbortSignal): Promise<void>
  connectNetwork(network: string, container: string, endpoint: unknown, signal?: AbortSignal): Promise<void>
}

export interface NetworkSpec {
  name: string
  driver: string
  internal: boolean
  labels: Record<string, string>
}

const network = (ref: string) => `/networks/${encodeURIComponent(ref)}`

export function networkClient({ send, act }: Transport): NetworkClient {
  return {
    listNetworks: (signal) => send({ method: 'GET', path: '/networks', signal }, z.array(networkListing)),
    inspectNetwork: (ref, signal) => send({ method: 'GET', path: network(ref), signal }, networkListing),
    async createNetwork(spec, signal) {
      const body = {
        Name: spec.name,
        Driver: spec.driver,
        Internal: spec.internal,
        Labels: spec.labels,
        CheckDuplicate: true,
      }
      const reply = await send({ method: 'POST', path: '/networks/create', body, signal }, createdReply)
      return reply.Id
    },
    removeNetwork: (ref, signal) => act({ method: 'DELETE', path: network(ref), signal }),
    connectNetwork: (ref, container, endpoint, signal) =>
      act({
        method: 'POST',
        path: `${network(ref)}/connect`,
        body: { Container: container, EndpointConfig: endpoint },
        signal,
      }),
  }
}
