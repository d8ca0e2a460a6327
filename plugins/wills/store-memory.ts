/** Pending wills in this process (memory mode): lost on restart, like every other session state there. */
import type { HeldWill, PendingStore } from './held-will.js'
import { PendingWills } from './pending.js'

export function memoryPendingStore (): PendingStore {
  const pending = new PendingWills<HeldWill>()
  return {
    hold: async (will) => { pending.hold(will) },
    cancel: async (clientId, epoch) => pending.cancel(clientId, epoch),
    takeDue: async (now) => pending.takeDue(now),
    nextDue: () => pending.nextDue(),
    drain: () => pending.takeAll()
  }
}
