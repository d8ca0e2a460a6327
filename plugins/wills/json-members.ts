/**
 * Where the top-level members of a JSON object text sit, so the stamper can
 * replace one value and append members without re-serialising the rest:
 * every other field stays byte-identical (big integers, `1.0`, escapes and
 * key order included), which JSON.parse + JSON.stringify would not keep.
 * Pure; expects text that JSON.parse already accepted as an object.
 */

export interface MemberSpan {
  /** The decoded key. */
  key: string
  /** Offsets of the value text (end exclusive). */
  valueStart: number
  valueEnd: number
}

export interface ObjectLayout {
  members: MemberSpan[]
  /** Offset of the closing `}` of the object. */
  close: number
}

const QUOTE = 0x22
const BACKSLASH = 0x5c

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

/** End (exclusive) of the string token starting at `i` (a quote). */
function stringEnd (text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j)
    if (c === BACKSLASH) j++
    else if (c === QUOTE) return j + 1
  }
  return text.length
}

/** End (exclusive) of the value starting at `i`: a string, a nested container or a scalar. */
function valueEnd (text: string, i: number): number {
  const c = text.charCodeAt(i)
  if (c === QUOTE) return stringEnd(text, i)
  if (c === 0x7b || c === 0x5b) {
    let depth = 0
    for (let j = i; j < text.length; j++) {
      const d = text.charCodeAt(j)
      if (d === QUOTE) { j = stringEnd(text, j) - 1; continue }
      if (d === 0x7b || d === 0x5b) depth++
      else if (d === 0x7d || d === 0x5d) {
        depth--
        if (depth === 0) return j + 1
      }
    }
    return text.length
  }
  let j = i
  while (j < text.length) {
    const d = text.charCodeAt(j)
    if (d === 0x2c || d === 0x7d || d === 0x5d || isSpace(d)) break
    j++
  }
  return j
}

function skipSpace (text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++
  return i
}

/** Layout of a JSON object text (already validated by JSON.parse). */
export function objectLayout (text: string): ObjectLayout {
  const members: MemberSpan[] = []
  let i = skipSpace(text, 0) + 1 // past '{'
  for (;;) {
    i = skipSpace(text, i)
    const c = text.charCodeAt(i)
    if (c === 0x7d || i >= text.length) return { members, close: i }
    if (c === 0x2c) { i++; continue }
    const keyEnd = stringEnd(text, i)
    const key = JSON.parse(text.slice(i, keyEnd)) as string
    i = skipSpace(text, keyEnd) + 1 // past ':'
    const valueStart = skipSpace(text, i)
    const end = valueEnd(text, valueStart)
    members.push({ key, valueStart, valueEnd: end })
    i = end
  }
}
