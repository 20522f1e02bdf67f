import type { OpenApiDocument } from './build.ts'

// The reference page is rendered here from the document, with its style inline: no script and
// nothing fetched from elsewhere, so it works on a closed network and under a strict CSP.

interface Parameter {
  name: string
  in: string
  required: boolean
  description?: string
  schema: unknown
}
interface Media {
  schema?: unknown
}
interface Response {
  description?: string
  content?: Record<string, Media>
  $ref?: string
}
interface OperationView {
  operationId?: string
  summary?: string
  description?: string
  tags?: string[]
  parameters?: Parameter[]
  requestBody?: { description?: string; required?: boolean; content: Record<string, Media> }
  security?: Record<string, string[]>[]
  responses: Record<string, Response>
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

export const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c)

/** An anchor for a tag or an undescribed operation: letters, digits and dashes. */
const anchor = (text: string) => text.replace(/[^A-Za-z0-9]+/g, '-')

/** Text with `code` spans, escaped. */
const prose = (text: string) =>
  escapeHtml(text).replace(/`([^`]+)`/g, (_, code: string) => `<code>${code}</code>`)

const schemaBlock = (schema: unknown) =>
  `<details><summary>schema</summary><pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre></details>`

function contentList(content: Record<string, Media> | undefined): string {
  if (!content) return ''
  return Object.entries(content)
    .map(
      ([type, media]) =>
        `<div class="media"><code>${escapeHtml(type)}</code>${media.schema ? schemaBlock(media.schema) : ''}</div>`,
    )
    .join('')
}

function parametersTable(parameters: Parameter[]): string {
  const rows = parameters
    .map(
      (p) =>
        `<tr><td><code>${escapeHtml(p.name)}</code></td><td>${escapeHtml(p.in)}</td><td>${p.required ? 'yes' : ''}</td>` +
        `<td><code>${escapeHtml(JSON.stringify(p.schema))}</code>${p.description ? ` ${prose(p.description)}` : ''}</td></tr>`,
    )
    .join('')
  return `<table><tr><th>name</th><th>in</th><th>required</th><th>schema</th></tr>${rows}</table>`
}

function responsesList(doc: OpenApiDocument, responses: Record<string, Response>): string {
  const items = Object.entries(responses).map(([status, response]) => {
    const kind = response.$ref?.split('/').pop()
    const resolved: Response = kind
      ? ((doc.components.responses as Record<string, Response>)[kind] ?? response)
      : response
    const body = kind ? ' <a href="#error-body">error body</a>' : contentList(resolved.content)
    return `<li><b>${escapeHtml(status)}</b> ${prose(resolved.description ?? '')}${body}</li>`
  })
  return `<ul class="responses">${items.join('')}</ul>`
}

function operationHtml(doc: OpenApiDocument, method: string, path: string, op: OperationView): string {
  const id = op.operationId ?? anchor(`${method}-${path}`)
  const parts = [
    `<section class="op" id="${escapeHtml(id)}">`,
    `<h3><span class="method ${escapeHtml(method)}">${escapeHtml(method.toUpperCase())}</span> <code>${escapeHtml(path)}</code></h3>`,
    `<p class="summary">${prose(op.summary ?? '')} <span class="id">${escapeHtml(op.operationId ?? '')}</span></p>`,
  ]
  if (op.description) parts.push(...op.description.split('\n\n').map((p) => `<p>${prose(p)}</p>`))
  const scopes = op.security?.flatMap((s) =>
    Object.entries(s).map(([k, v]) => `${k}${v.length ? ` (${v.join(', ')})` : ''}`),
  )
  parts.push(`<p class="auth">auth: ${escapeHtml(scopes?.length ? scopes.join(', ') : 'none')}</p>`)
  if (op.parameters?.length) parts.push('<h4>Parameters</h4>', parametersTable(op.parameters))
  if (op.requestBody) {
    const note = `${op.requestBody.required ? 'required' : 'optional'}${op.requestBody.description ? `: ${op.requestBody.description}` : ''}`
    parts.push(`<h4>Body</h4><p>${prose(note)}</p>`, contentList(op.requestBody.content))
  }
  parts.push('<h4>Responses</h4>', responsesList(doc, op.responses), '</section>')
  return parts.join('\n')
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:1rem 2rem;color:#1d2330}
code,pre{font:13px ui-monospace,monospace}pre{background:#f4f5f7;padding:.5rem;overflow:auto}
.op{border-top:1px solid #dde;padding:.5rem 0}.method{display:inline-block;min-width:4.5em;font-size:13px;color:#fff;
background:#556;border-radius:3px;text-align:center}.get{background:#2a6db0}.post{background:#2c8a4b}
.put,.patch{background:#b07a1c}.delete{background:#b03a2e}.id,.auth{color:#667;font-size:13px}
table{border-collapse:collapse}td,th{border:1px solid #dde;padding:2px 6px;text-align:left;vertical-align:top}
nav ul{columns:3}`

/** The document as one HTML page: operations grouped by tag, each with its parameters, body and answers. */
export function renderReference(doc: OpenApiDocument): string {
  const byTag = new Map<string, string[]>(doc.tags.map((t) => [t.name, []]))
  const untagged: string[] = []
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods as Record<string, OperationView>)) {
      const html = operationHtml(doc, method, path, op)
      const list = op.tags?.[0] ? byTag.get(op.tags[0]) : undefined
      ;(list ?? untagged).push(html)
    }
  }
  const sections = doc.tags.map(
    (t) =>
      `<h2 id="tag-${anchor(t.name)}">${escapeHtml(t.name)}</h2><p>${prose(t.description)}</p>${(byTag.get(t.name) ?? []).join('\n')}`,
  )
  if (untagged.length > 0) sections.push(`<h2>other</h2>${untagged.join('\n')}`)
  const nav = doc.tags
    .map((t) => `<li><a href="#tag-${anchor(t.name)}">${escapeHtml(t.name)}</a></li>`)
    .join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(doc.info.title)} ${escapeHtml(doc.info.version)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(doc.info.title)} <small>${escapeHtml(doc.info.version)}</small></h1>
<p>${prose(doc.info.description)} Base path <code>${escapeHtml(doc.servers[0]?.url ?? '')}</code>; the document: <a href="openapi.json">openapi.json</a>.</p>
<nav><ul>${nav}</ul></nav>
<h2 id="error-body">Error body</h2>${schemaBlock(doc.components.schemas.Error)}
${sections.join('\n')}
</body></html>`
}
