/**
 * An index of retained topic names by topic level (issue 15): a trie whose
 * edges are levels, so that the filters of one SUBSCRIBE are answered in one
 * walk whose cost grows with what they match (plus their depth and the
 * siblings a '+' has to visit), not with the number of retained messages.
 * Aedes 1.2's memory persistence tested every stored topic against every
 * filter, one scan per filter: 1,000 filters x 100,000 retained messages held
 * the event loop for tens of seconds.
 *
 * Matching follows [MQTT-4.7.1-2] (a '#' matches its parent level and every
 * level below, so 'a/#' matches 'a') and [MQTT-4.7.1-3] ('+' matches exactly
 * one level, an empty one included: what Aedes' emitter does with
 * matchEmptyLevels), like broker/topic-match.ts. With `dollarRule` a filter
 * starting with a wildcard never reaches a topic starting with '$'
 * [MQTT-4.7.2-1]. Pure: no Aedes, no Redis, no clock.
 */

class Level<T> {
  children: Map<string, Level<T>> | null = null
  /** The retained entry stored on the topic ending at this level, if any. */
  value: T | undefined = undefined
}

/** The SUBSCRIBE's filters as a trie of levels too, so shared prefixes are walked once. */
class FilterLevel {
  readonly children = new Map<string, FilterLevel>()
  /** A filter ends at this level. */
  end = false
}

export interface MatchOptions {
  /** [MQTT-4.7.2-1]: a filter starting with '+' or '#' does not reach topics starting with '$'. */
  dollarRule: boolean
}

/**
 * One walk visits at most this many levels between two `null`s it yields, so
 * a caller can let the event loop run between batches of a long lookup.
 */
export const WALK_SLICE = 1024

const DOLLAR = 36

export class RetainedTrie<T> {
  readonly #root = new Level<T>()
  #size = 0
  #dollar = 0

  /** How many topics hold an entry. */
  get size (): number { return this.#size }

  /** How many of them start with '$' (the broker's own: statuses, $SYS), for limits on clients' topics. */
  get dollarSize (): number { return this.#dollar }

  get (topic: string): T | undefined {
    let level: Level<T> | undefined = this.#root
    let start = 0
    for (;;) {
      const end = nextSlash(topic, start)
      level = level.children?.get(topic.slice(start, end))
      if (level === undefined) return undefined
      if (end === topic.length) return level.value
      start = end + 1
    }
  }

  set (topic: string, value: T): void {
    let level = this.#root
    let start = 0
    for (;;) {
      const end = nextSlash(topic, start)
      const name = topic.slice(start, end)
      level.children ??= new Map()
      let child = level.children.get(name)
      if (child === undefined) {
        child = new Level<T>()
        level.children.set(name, child)
      }
      level = child
      if (end === topic.length) break
      start = end + 1
    }
    if (level.value === undefined) {
      this.#size++
      if (topic.charCodeAt(0) === DOLLAR) this.#dollar++
    }
    level.value = value
  }

  /** Remove the entry on `topic`; levels left empty are dropped. Returns whether there was one. */
  delete (topic: string): boolean {
    const path: Array<[Level<T>, string]> = []
    let level: Level<T> | undefined = this.#root
    let start = 0
    for (;;) {
      const end = nextSlash(topic, start)
      const name = topic.slice(start, end)
      const child: Level<T> | undefined = level.children?.get(name)
      if (child === undefined) return false
      path.push([level, name])
      level = child
      if (end === topic.length) break
      start = end + 1
    }
    if (level.value === undefined) return false
    level.value = undefined
    this.#size--
    if (topic.charCodeAt(0) === DOLLAR) this.#dollar--
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, name] = path[i]!
      const child = parent.children!.get(name)!
      if (child.value !== undefined || (child.children !== null && child.children.size > 0)) break
      parent.children!.delete(name)
    }
    return true
  }

  clear (): void {
    this.#root.children = null
    this.#size = 0
    this.#dollar = 0
  }

  /**
   * Every entry whose topic matches at least one of `filters`, each once, in
   * no particular order. Between entries it yields `null` every WALK_SLICE
   * levels visited (a pause point). Entries stored or deleted while a caller
   * pauses may or may not be seen; a deleted one is never yielded after its
   * deletion was seen by the walk.
   */
  * match (filters: readonly string[], options: MatchOptions): Generator<T | null> {
    const wanted = new FilterLevel()
    for (const filter of filters) addFilter(wanted, filter)
    coverBySharp(wanted, options.dollarRule)
    // Each topic once: two filters ('a/#' and 'a/+', or 'a' and 'a/#') can reach
    // the same level. Only then is a set of what was sent needed.
    const seen = mayOverlap(wanted, true, options.dollarRule) ? new Set<Level<T>>() : null
    const fresh = (level: Level<T>): boolean => {
      if (level.value === undefined) return false
      if (seen === null) return true
      if (seen.has(level)) return false
      seen.add(level)
      return true
    }
    const stack: Array<[FilterLevel, Level<T>, boolean]> = [[wanted, this.#root, true]]
    let steps = 0
    while (stack.length > 0) {
      const [filter, level, atRoot] = stack.pop()!
      if (++steps % WALK_SLICE === 0) yield null
      if (filter.end && fresh(level)) yield level.value!
      const children = level.children
      for (const [name, next] of filter.children) {
        if (name === '#') {
          // 'a/#' also matches 'a' itself [MQTT-4.7.1-2].
          if (!atRoot && fresh(level)) yield level.value!
          if (children === null) continue
          for (const [childName, child] of children) {
            if (atRoot && options.dollarRule && childName.charCodeAt(0) === DOLLAR) continue
            for (const value of everything(child, fresh)) {
              if (value === null) yield null
              else yield value
            }
          }
        } else if (name === '+') {
          if (children === null) continue
          // The common last level ('$liveness/+', 'devices/+'): no stack entry per child.
          const leaf = next.children.size === 0
          for (const [childName, child] of children) {
            if (atRoot && options.dollarRule && childName.charCodeAt(0) === DOLLAR) continue
            if (!leaf) stack.push([next, child, false])
            else {
              if (++steps % WALK_SLICE === 0) yield null
              if (fresh(child)) yield child.value!
            }
          }
        } else {
          const child = children?.get(name)
          if (child !== undefined) stack.push([next, child, false])
        }
      }
    }
  }
}

/**
 * Whether two paths of the filter trie can reach the same topic level: a
 * wildcard beside another filter at one level, or a filter ending where a '#'
 * starts ('a' and 'a/#'). At the root under [MQTT-4.7.2-1] a wildcard never
 * meets a '$' literal.
 */
function mayOverlap (level: FilterLevel, atRoot: boolean, dollarRule: boolean): boolean {
  const children = level.children
  if (level.end && children.has('#')) return true
  if (children.has('+') || children.has('#')) {
    let others = 0
    for (const name of children.keys()) {
      if (name === '+' || name === '#') continue
      if (atRoot && dollarRule && name.charCodeAt(0) === DOLLAR) continue
      others++
    }
    if (others > 0 || (children.has('+') && children.has('#'))) return true
  }
  for (const child of children.values()) if (mayOverlap(child, false, dollarRule)) return true
  return false
}

function nextSlash (topic: string, start: number): number {
  const end = topic.indexOf('/', start)
  return end === -1 ? topic.length : end
}

function addFilter (root: FilterLevel, filter: string): void {
  let level = root
  let start = 0
  for (;;) {
    const end = nextSlash(filter, start)
    const name = filter.slice(start, end)
    let child = level.children.get(name)
    if (child === undefined) {
      child = new FilterLevel()
      level.children.set(name, child)
    }
    level = child
    if (end === filter.length) break
    start = end + 1
  }
  level.end = true
}

/**
 * A '#' matches everything below its level, so its sibling filters add
 * nothing: dropping them keeps overlapping filters ('+/#', '+/+/#', ...) from
 * walking the same levels again.
 */
function coverBySharp (level: FilterLevel, keepDollar: boolean): void {
  const sharp = level.children.get('#')
  if (sharp !== undefined) {
    // At the root under [MQTT-4.7.2-1] a '#' does not cover '$SYS/...' and the like.
    for (const name of [...level.children.keys()]) {
      if (name !== '#' && !(keepDollar && name.charCodeAt(0) === DOLLAR)) level.children.delete(name)
    }
  }
  for (const [name, child] of level.children) if (name !== '#') coverBySharp(child, false)
}

/** Every entry at or below `level` not yet sent, with a `null` pause point every WALK_SLICE levels. */
function * everything<T> (level: Level<T>, fresh: (level: Level<T>) => boolean): Generator<T | null> {
  const stack: Level<T>[] = [level]
  let steps = 0
  while (stack.length > 0) {
    const current = stack.pop()!
    if (++steps % WALK_SLICE === 0) yield null
    if (fresh(current)) yield current.value!
    if (current.children !== null) for (const child of current.children.values()) stack.push(child)
  }
}
