/**
 * CPU and memory of a process and of the machine, read from /proc (Linux).
 * Elsewhere every reading is null and the report says "n/a" rather than guess.
 */
import { readFileSync } from 'node:fs'

/** Linux USER_HZ: 100 on every mainstream kernel build. */
const CLOCK_TICKS = 100

export interface ProcSample { cpuMs: number, rssBytes: number }

/** utime + stime (ms) and VmRSS of a pid; null when it is gone or /proc is absent. */
export function readProc (pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rss = /VmRSS:\s+(\d+)\s+kB/.exec(status)
    return { cpuMs: (utime + stime) * 1000 / CLOCK_TICKS, rssBytes: rss !== null ? Number(rss[1]) * 1024 : 0 }
  } catch {
    return null
  }
}

export interface MachineSample { busy: number, total: number, cores: number }

/** Aggregate jiffies of the whole machine (busy = total - idle - iowait). */
export function readMachine (): MachineSample | null {
  try {
    const text = readFileSync('/proc/stat', 'utf8')
    const line = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number)
    const total = line.reduce((a, b) => a + b, 0)
    const idle = (line[3] ?? 0) + (line[4] ?? 0)
    const cores = text.split('\n').filter((l) => /^cpu\d+ /.test(l)).length
    return { busy: total - idle, total, cores }
  } catch {
    return null
  }
}
