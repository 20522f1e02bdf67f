import type { ErrorKind } from '@berth/shared'
import { z } from 'zod'

/** A JSON Schema (2020-12, as OpenAPI 3.1 takes it). */
export type JsonSchema = Record<string, unknown>

/** The media types of a request body or an answer, each with its schema. */
export type Content = Record<string, { schema: JsonSchema }>

/** What a successful request answers. */
export interface Success {
  status: number
  description: string
  /** The JSON answer; its schema is taken from the zod schema. */
  json?: z.ZodType
  /** Answers of other media types (files, archives, server-sent events). */
  content?: Content
}

/** What the document says of one route beyond what its middleware shows. */
export interface Operation {
  id: string
  summary: string
  description?: string
  ok: Success
  /** Other answers of a request that did what it was asked (a skipped webhook delivery's 200). */
  also?: Success[]
  /** Errors the route answers besides those its middleware and path show (auth, validation, ids). */
  errors?: ErrorKind[]
  /** A body the route reads itself rather than through a validator (uploads). */
  body?: { description: string; content: Content; required: boolean }
  /** An agent's route: it authenticates with its agent token, not a user's. */
  auth?: 'agent'
}

/** The operations of one area of the API, under one tag; keyed by `METHOD /path` as the document writes it. */
export interface Area {
  tag: string
  description: string
  operations: Record<string, Operation>
}

/** The errors of a request relayed to a server's agent. */
export const AGENT_ERRORS: ErrorKind[] = ['agent_error', 'agent_offline', 'timeout']

export const json = (status: number, description: string, schema: z.ZodType): Success => ({
  status,
  description,
  json: schema,
})

export const noContent = (description: string): Success => ({ status: 204, description })

/** A WebSocket: the upgrade's answer, with the frames in the description. */
export const upgrade = (description: string): Success => ({
  status: 101,
  description: `Switching Protocols: a WebSocket. ${description}`,
})

/** A stream of server-sent events, described in words (its events are JSON in `data`). */
export const eventStream = (description: string): Content => ({
  'text/event-stream': { schema: { type: 'string', description } },
})

/** Bytes of the given media types. */
export const bytes = (...types: string[]): Content =>
  Object.fromEntries(types.map((type) => [type, { schema: { type: 'string', contentMediaType: type } }]))

/** `{<name>: <schema>}`: one resource under its name. */
export const one = (name: string, schema: z.ZodType) => z.object({ [name]: schema })

/** `{<name>: [<schema>], next_cursor}`: a page of a list. */
export const page = (name: string, schema: z.ZodType) =>
  z.object({ [name]: z.array(schema), next_cursor: z.string().nullable() })

/** A view whose main fields are given; it has others (see docs/api.md). */
export const view = (shape: z.ZodRawShape, description: string) => z.looseObject(shape).describe(description)
