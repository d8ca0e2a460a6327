// qlobber ships no types; this is the part Vigil uses (a dependency of Aedes too).
declare module 'qlobber' {
  export interface QlobberOptions {
    separator?: string
    wildcard_one?: string
    wildcard_some?: string
    match_empty_levels?: boolean
  }
  export class Qlobber<V = unknown> {
    constructor (options?: QlobberOptions)
    add (topic: string, value: V): this
    match (topic: string): V[]
    remove (topic: string, value?: V): this
    clear (): this
  }
  /** Like Qlobber, but match() returns each value once (a Set). */
  export class QlobberDedup<V = unknown> {
    constructor (options?: QlobberOptions)
    add (topic: string, value: V): this
    match (topic: string): Set<V>
    remove (topic: string, value?: V): this
    clear (): this
  }
  export class QlobberTrue {
    constructor (options?: QlobberOptions)
    add (topic: string): this
    test (topic: string): boolean
  }
}
