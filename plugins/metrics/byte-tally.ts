/**
 * Bytes in and out of client connections, read at scrape time: the live
 * sockets' own counters plus a running total of the closed ones. The packet
 * path pays nothing; a connection pays one Set entry and one 'close' listener.
 */
export interface CountedSocket {
  readonly bytesRead: number
  readonly bytesWritten: number
  on(event: 'close', listener: (this: CountedSocket) => void): unknown
}

export class ByteTally {
  readonly #live = new Set<CountedSocket>()
  #closedRead = 0
  #closedWritten = 0
  /** One listener for every socket ('close' comes once; no closure per connection: issue 15). */
  readonly #onClose: (this: CountedSocket) => void

  constructor () {
    const tally = this
    this.#onClose = function (this: CountedSocket) { tally.#closed(this) }
  }

  /** Count this socket until it closes; tracking the same socket twice is harmless. */
  track (socket: CountedSocket): void {
    if (this.#live.has(socket)) return
    this.#live.add(socket)
    socket.on('close', this.#onClose)
  }

  #closed (socket: CountedSocket): void {
    if (!this.#live.delete(socket)) return
    // Node keeps a closed socket's final counters readable.
    this.#closedRead += socket.bytesRead
    this.#closedWritten += socket.bytesWritten
  }

  get liveCount (): number {
    return this.#live.size
  }

  /** Monotonic totals: closed connections plus the current counters of live ones. */
  totals (): { read: number, written: number } {
    let read = this.#closedRead
    let written = this.#closedWritten
    for (const socket of this.#live) {
      read += socket.bytesRead
      written += socket.bytesWritten
    }
    return { read, written }
  }
}
