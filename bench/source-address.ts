/** Where the benchmark's load connects from (issue 15: 19,000 clients on loopback). */

/**
 * The source address of connection i on a loopback target: one of 64 (127.0.<1..4>.<1..16>), each
 * with its own range of ephemeral ports. From one address, 19,000 live connections plus the
 * TIME-WAIT sockets the runs before leave (36,000 on this machine at the time) compete for the
 * 28,000 ports Linux hands out by default: up to 7,800 of 19,000 connects failed, against every
 * broker alike.
 */
export function sourceAddress (host: string, i: number): string | undefined {
  if (host !== '127.0.0.1' && host !== 'localhost') return undefined
  return `127.0.${1 + (Math.floor(i / 16) % 4)}.${1 + (i % 16)}`
}
