// The bundle's `Headers` (build.mjs injects it for the global): Node's own comes with undici,
// whose loading cost a `berth` command about 50 ms, a third of its whole run. What the CLI and
// hono's client use of Headers, with names compared without case as the standard says.

type Init = Headers | Record<string, string> | [string, string][] | Iterable<[string, string]>

export class LightHeaders {
  /** Lower-cased name → [name as first given, values]. */
  private readonly map = new Map<string, [string, string[]]>()

  constructor(init?: Init) {
    if (!init) return
    const pairs =
      Symbol.iterator in Object(init) ? (init as Iterable<[string, string]>) : Object.entries(init)
    for (const [name, value] of pairs) this.append(name, value)
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase()
    const entry = this.map.get(key)
    if (entry) entry[1].push(String(value))
    else this.map.set(key, [name, [String(value)]])
  }

  set(name: string, value: string): void {
    this.map.set(name.toLowerCase(), [name, [String(value)]])
  }

  get(name: string): string | null {
    return this.map.get(name.toLowerCase())?.[1].join(', ') ?? null
  }

  has(name: string): boolean {
    return this.map.has(name.toLowerCase())
  }

  delete(name: string): void {
    this.map.delete(name.toLowerCase())
  }

  forEach(callback: (value: string, name: string, headers: this) => void): void {
    for (const [name, value] of this.entries()) callback(value, name, this)
  }

  *entries(): IterableIterator<[string, string]> {
    for (const [key, [, values]] of [...this.map].sort(([a], [b]) => (a < b ? -1 : 1)))
      yield [key, values.join(', ')]
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries()
  }
}

export { LightHeaders as Headers }
