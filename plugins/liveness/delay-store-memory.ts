/** The delay store in this process (memory mode): lost on restart, like every other session state there. */
import { DelayedEndIndex } from './delayed-end.js'
import type { DelayStore } from './delay-store.js'

export function memoryDelayStore (): DelayStore {
  const index = new DelayedEndIndex()
  return {
    put: async (part) => { index.put(part) },
    cancel: async (clientId, epoch) => index.cancel(clientId, epoch),
    takeDue: async (now) => index.takeDue(now),
    nextDue: () => index.nextDue(),
    drain: () => index.takeAll()
  }
}
