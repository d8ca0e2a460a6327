/// <reference path="../../types/qlobber.d.ts" />
/**
 * Which `retained.expire` rule governs a topic, and when a message stored at a
 * given time is due. Pure: no clock, no Aedes. The first matching rule wins,
 * in config order (the same convention as liveness.rules).
 */
import { Qlobber } from 'qlobber'

export interface ExpiryRule { topic: string, maxAge: number }

export class ExpiryRules {
  readonly #rules: readonly ExpiryRule[]
  readonly #matcher = new Qlobber<number>({
    separator: '/',
    wildcard_one: '+',
    wildcard_some: '#',
    // [MQTT-4.7.1-3]: '+' matches an empty level, as Aedes' emitter is configured.
    match_empty_levels: true
  })

  /** Filters that start with a wildcard, which must not match `$` topics [MQTT-4.7.2-1]. */
  readonly #wildcardFirst: boolean[]

  constructor (rules: readonly ExpiryRule[]) {
    this.#rules = rules
    this.#wildcardFirst = rules.map((r) => r.topic.startsWith('+') || r.topic.startsWith('#'))
    rules.forEach((rule, i) => this.#matcher.add(rule.topic, i))
  }

  get empty (): boolean {
    return this.#rules.length === 0
  }

  /** The first rule matching `topic`, or undefined. */
  ruleFor (topic: string): ExpiryRule | undefined {
    if (this.#rules.length === 0) return undefined
    const dollar = topic.charCodeAt(0) === 36 // '$'
    let best = -1
    for (const i of this.#matcher.match(topic)) {
      if (dollar && this.#wildcardFirst[i] === true) continue
      if (best === -1 || i < best) best = i
    }
    return best === -1 ? undefined : this.#rules[best]
  }

  /** When a message stored at `storedAt` on `topic` is due, or null if no rule expires it. */
  dueAt (topic: string, storedAt: number): number | null {
    const rule = this.ruleFor(topic)
    return rule === undefined ? null : storedAt + rule.maxAge
  }

  /** The maxAge that governs `topic` (ms), or null. */
  maxAgeOf (topic: string): number | null {
    return this.ruleFor(topic)?.maxAge ?? null
  }
}
