/**
 * Typed services plugins offer each other (and the HTTP API). Each plugin adds
 * its own entry by module augmentation, next to its code:
 *
 *   declare module '../../broker/services.js' {
 *     interface Services { liveness: LivenessService }
 *   }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Services {
  /** Present from start-up: whether the node is shutting down (hooks read it to pick reasons). */
  lifecycle: Lifecycle
}

export interface Lifecycle {
  readonly nodeId: string
  readonly shuttingDown: boolean
  /** Whether persistence (and Redis, if configured) currently answers. */
  ready(): Promise<{ ok: boolean, reason?: string }>
}

export type ServiceName = keyof Services

/** A plain typed registry; `need` fails loudly at start-up, never later. */
export class ServiceRegistry {
  readonly #services = new Map<ServiceName, unknown>()

  provide<K extends ServiceName> (key: K, service: Services[K]): void {
    if (this.#services.has(key)) throw new Error(`service ${key} is provided twice`)
    this.#services.set(key, service)
  }

  has (key: ServiceName): boolean {
    return this.#services.has(key)
  }

  need<K extends ServiceName> (key: K): Services[K] {
    const service = this.#services.get(key)
    if (service === undefined) throw new Error(`service ${key} is not provided (is its plugin enabled and registered earlier?)`)
    return service as Services[K]
  }

  maybe<K extends ServiceName> (key: K): Services[K] | undefined {
    return this.#services.get(key) as Services[K] | undefined
  }
}
