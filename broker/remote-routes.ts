/// <reference path="../types/qlobber.d.ts" />
/**
 * The other nodes' routes, as Redis mode's local-first emitter
 * (broker/local-first-emitter.ts) replicates them: which filters each other
 * node subscribes to, matched per message without any Redis round trip.
 *
 * Each node keeps its filters in a Redis set (`vigil:routes:<node>`, with a
 * version in `vigil:routes-version:<node>`) and announces each change on
 * `vigil:routes` with the next version. Here a change whose version follows
 * the one held is applied; a gap (a message lost while Redis or the connection
 * was away), a hello with another version, or an unknown node means the set
 * is read again. A node not heard from for FORGET_MS is dropped.
 */
import type { Redis } from 'ioredis'
import { QlobberDedup } from 'qlobber'

export const ROUTES_CHANNEL = 'vigil:routes'
export const routesKey = (node: string): string => `vigil:routes:${node}`
export const versionKey = (node: string): string => `vigil:routes-version:${node}`

/** How often each node says hello (its version) on ROUTES_CHANNEL. */
export const HELLO_MS = 5000
/** A node not heard from (hello or change) for this long is dropped from the routes. */
const FORGET_MS = 3 * HELLO_MS + 2000

/** Route announcements on ROUTES_CHANNEL: [kind, node, version, filter?]. */
export type Announcement = ['+' | '-', string, number, string] | ['~' | '!', string, number]

interface RemoteNode {
  version: number
  filters: Set<string>
  heardAt: number
  reloading: boolean
  /** Changes announced while a reload is in flight, applied on top of what it read. */
  pending: Array<['+' | '-', string, number, string]>
}

export class RemoteRoutes {
  readonly #self: string
  readonly #commands: Redis
  readonly #fail: (err: unknown) => void
  /** Every other node's filters, for matching: value = node id. */
  readonly #routes: QlobberDedup<string>
  readonly #remote = new Map<string, RemoteNode>()

  /** `commands` is the connection that reads the sets (not a subscriber); `fail` reports Redis errors. */
  constructor (self: string, commands: Redis, matchEmptyLevels: boolean, fail: (err: unknown) => void) {
    this.#self = self
    this.#commands = commands
    this.#fail = fail
    this.#routes = new QlobberDedup<string>({ separator: '/', wildcard_one: '+', wildcard_some: '#', match_empty_levels: matchEmptyLevels })
  }

  /** The nodes with a filter matching `topic` (the set is the matcher's own: do not keep it). */
  match (topic: string): Set<string> {
    return this.#routes.match(topic)
  }

  /** How many other nodes have routes, and how many filters in all. */
  counts (): { nodes: number, filters: number } {
    let filters = 0
    for (const node of this.#remote.values()) filters += node.filters.size
    return { nodes: this.#remote.size, filters }
  }

  /** Drop the nodes not heard from for FORGET_MS (called with each hello). */
  forgetSilent (now: number): void {
    for (const [node, remote] of this.#remote) {
      if (now - remote.heardAt > FORGET_MS) this.drop(node)
    }
  }

  /** Find every node that has routes in Redis (start-up, or after this node's subscriber reconnected). */
  async scan (): Promise<void> {
    const prefix = versionKey('')
    let cursor = '0'
    do {
      const [next, keys] = await this.#commands.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      cursor = next
      for (const key of keys) {
        const node = key.slice(prefix.length)
        if (node !== this.#self) this.#reload(node)
      }
    } while (cursor !== '0')
  }

  /** An announcement on ROUTES_CHANNEL. */
  announced (message: Announcement): void {
    const [kind, node, version] = message
    if (node === this.#self) return
    if (kind === '!') {
      this.drop(node)
      if (version >= 0) this.#reload(node)
      return
    }
    const remote = this.#remote.get(node)
    if (remote === undefined) {
      this.#reload(node)
      return
    }
    remote.heardAt = Date.now()
    if (remote.reloading) {
      // The reload's snapshot may be older than this change (its reply and this announcement
      // come on different connections): dropping the change lost the route until the next
      // hello, and with it every message to that node meanwhile (seen under a connect flood).
      if (kind === '+' || kind === '-') remote.pending.push(message as ['+' | '-', string, number, string])
      return
    }
    if (kind === '~') {
      if (version !== remote.version) this.#reload(node)
      return
    }
    this.#apply(node, remote, message as ['+' | '-', string, number, string])
  }

  /** One announced change, in version order; a gap means one was missed: reload. */
  #apply (node: string, remote: RemoteNode, message: ['+' | '-', string, number, string]): void {
    const [kind, , version, filter] = message
    if (version <= remote.version) return
    if (version !== remote.version + 1) {
      this.#reload(node)
      return
    }
    remote.version = version
    if (kind === '+') {
      if (!remote.filters.has(filter)) {
        remote.filters.add(filter)
        this.#routes.add(filter, node)
      }
    } else if (remote.filters.delete(filter)) {
      this.#routes.remove(filter, node)
    }
  }

  #reload (node: string): void {
    let remote = this.#remote.get(node)
    if (remote === undefined) {
      remote = { version: -1, filters: new Set(), heardAt: Date.now(), reloading: false, pending: [] }
      this.#remote.set(node, remote)
    }
    if (remote.reloading) return
    remote.reloading = true
    const target = remote
    this.#commands.multi().get(versionKey(node)).smembers(routesKey(node)).exec().then((results) => {
      target.reloading = false
      if (this.#remote.get(node) !== target || results === null) return
      const [versionResult, membersResult] = results as [[Error | null, string | null], [Error | null, string[]]]
      if (versionResult[0] !== null || membersResult[0] !== null) throw versionResult[0] ?? membersResult[0]
      if (versionResult[1] === null) {
        this.drop(node)
        return
      }
      const filters = new Set(membersResult[1])
      for (const filter of target.filters) if (!filters.has(filter)) this.#routes.remove(filter, node)
      for (const filter of filters) if (!target.filters.has(filter)) this.#routes.add(filter, node)
      target.filters = filters
      target.version = Number(versionResult[1])
      target.heardAt = Date.now()
      const pending = target.pending
      target.pending = []
      for (const change of pending) {
        if (target.reloading) break
        this.#apply(node, target, change)
      }
    }).catch((err: unknown) => {
      target.reloading = false
      target.pending = []
      this.#fail(err)
    })
  }

  drop (node: string): void {
    const remote = this.#remote.get(node)
    if (remote === undefined) return
    this.#remote.delete(node)
    for (const filter of remote.filters) this.#routes.remove(filter, node)
  }
}
