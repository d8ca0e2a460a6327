/**
 * The liveness status topic template (`liveness.statusTopic`, e.g.
 * `$liveness/{clientId}`): which clientId a retained topic is the status of,
 * and the status topic of a clientId. Pure.
 */

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

export class StatusTopic {
  readonly #template: string
  readonly #pattern: RegExp
  readonly #clientGroup: number
  readonly #prefix: string

  constructor (template: string) {
    this.#template = template
    let group = 0
    let clientGroup = 0
    const source = template.split(/(\{clientId\}|\{username\})/).map((part) => {
      if (part === '{clientId}') { clientGroup = ++group; return '(.+)' }
      if (part === '{username}') { ++group; return '([^/]*)' }
      return escape(part)
    }).join('')
    this.#pattern = new RegExp(`^${source}$`, 's')
    this.#clientGroup = clientGroup
    // Literal text before the first placeholder: a cheap pre-check on the hot path.
    this.#prefix = template.slice(0, template.search(/\{(clientId|username)\}/))
  }

  /** Whether the template names the topic from the clientId alone. */
  get byClientIdOnly (): boolean {
    return !this.#template.includes('{username}')
  }

  /** The clientId whose status `topic` is, or undefined. */
  clientOf (topic: string): string | undefined {
    if (!topic.startsWith(this.#prefix)) return undefined
    const m = this.#pattern.exec(topic)
    return m === null ? undefined : m[this.#clientGroup]
  }

  /** The status topic of a clientId (undefined when the template also needs the username). */
  topicOf (clientId: string): string | undefined {
    return this.byClientIdOnly ? this.#template.replaceAll('{clientId}', clientId) : undefined
  }
}
