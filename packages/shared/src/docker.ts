import { z } from 'zod'

// Docker's own API through Berth. `GET /servers/:id/docker` upgrades to a WebSocket that carries
// the bytes of one connection to the host's Docker socket, both ways, like `docker system
// dial-stdio` does for ssh:// hosts: binary messages are the connection's bytes, text messages
// the frames below. One Docker connection is one WebSocket; a client opens as many as it needs.

/** The subprotocol a browser offers (with `bearer.<token>`) and the API answers with. */
export const DOCKER_TUNNEL_PROTOCOL = 'berth.docker.v1'

/**
 * Flow control, each way: a side may have at most this many bytes sent and not yet credited back
 * by the other side, which credits what it has passed on (written to Docker, or to its local
 * socket). A side that sends past its window is closed with 1008.
 */
export const DOCKER_TUNNEL_WINDOW_BYTES = 4 * 1024 * 1024

/** The largest binary message either side sends. */
export const DOCKER_TUNNEL_MESSAGE_BYTES = 256 * 1024

/** Text frames both sides send. The API also sends `{type:"error", error}` (the error body) before it closes on a failure. */
export const dockerTunnelFrame = z.discriminatedUnion('type', [
  /** The sender passed on this many more of the other side's bytes: the other side may send that many more. */
  z
    .object({
      type: z.literal('credit'),
      bytes: z
        .number()
        .int()
        .positive()
        .max(2 ** 31),
    })
    .strict(),
  /** The sender sends no more bytes (a half-close: stdin's end for `docker run -i`); the other way goes on. */
  z.object({ type: z.literal('eof') }).strict(),
])
export type DockerTunnelFrame = z.infer<typeof dockerTunnelFrame>
