/**
 * mqemitter-redis turns a '#' (or '+...') MQTT subscription into a Redis
 * PSUBSCRIBE '*', so its subscriber connection also receives every other
 * channel on that Redis: Vigil's own (the retained index's changes, the
 * decommission kick relay) and anything another program publishes. It decodes
 * each as one of its msgpack packets and hands the result to mqemitter, whose
 * `assert(message)` throws inside ioredis' event handler: one client's '#'
 * subscription plus one DELETE /api/devices/... ended the process (issue 15).
 *
 * Here the subscriber's message listeners are wrapped: a message that is not
 * an emitter packet is dropped and counted through `onDrop` instead.
 */

interface EmitterInternals {
  subConn?: { listeners(event: string): Function[], removeAllListeners(event: string): unknown, on(event: string, fn: (...args: any[]) => void): unknown }
}

const EVENTS = ['messageBuffer', 'pmessageBuffer'] as const

export function guardRedisEmitter (emitter: unknown, onDrop: (err: unknown, channel: string) => void): void {
  const sub = (emitter as EmitterInternals).subConn
  if (sub === undefined) throw new Error('mqemitter-redis without subConn: the emitter guard does not fit this version')
  for (const event of EVENTS) {
    const listeners = sub.listeners(event)
    sub.removeAllListeners(event)
    for (const listener of listeners) {
      sub.on(event, (...args: Buffer[]) => {
        try {
          listener(...args)
        } catch (err) {
          // messageBuffer: (channel, message); pmessageBuffer: (pattern, channel, message).
          const channel = args[event === 'messageBuffer' ? 0 : 1]
          onDrop(err, String(channel))
        }
      })
    }
  }
}

/**
 * Channels Vigil publishes on besides the emitter's: mqemitter-redis skips
 * them before decoding (its list of ignored channels, which exists for
 * Sentinel's hello channel). Throws if this mqemitter-redis has no such list.
 */
export function ignoreEmitterChannels (emitter: unknown, channels: readonly string[]): void {
  const ignored = (emitter as { _ignoredTopicsSet?: Set<string> })._ignoredTopicsSet
  if (!(ignored instanceof Set)) throw new Error('mqemitter-redis without _ignoredTopicsSet: the emitter guard does not fit this version')
  for (const channel of channels) ignored.add(channel)
}
