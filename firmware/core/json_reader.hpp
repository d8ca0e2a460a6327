// A small, bounded JSON reader for command payloads: it validates a whole
// document (RFC 8259 grammar, nesting at most kMaxDepth) without allocating,
// and hands back slices of the input. Strings are unescaped into caller
// buffers. Enough for `{"id","command","args","ts"}`, nothing more.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vigil {

enum class JsonType : uint8_t { Invalid, Null, Bool, Number, String, Array, Object };

struct JsonSlice {
  const char* ptr = nullptr;  // first byte of the value (a string's opening quote)
  size_t len = 0;             // bytes of the value as written
  JsonType type = JsonType::Invalid;
};

constexpr int kMaxJsonDepth = 16;

// Whether `doc` is exactly one JSON value (surrounding whitespace allowed).
bool json_valid(const char* doc, size_t len);

// The member `key` of the top-level object `doc`; the last one wins when a
// key repeats (as JSON.parse does). False if `doc` is not a valid object or
// has no such member.
bool json_member(const char* doc, size_t len, const char* key, JsonSlice* out);

// Unescapes a String slice into `out` (NUL-terminated, UTF-8). False if the
// slice is not a string, holds a NUL or a lone surrogate, or does not fit.
bool json_string(const JsonSlice& s, char* out, size_t cap, size_t* out_len = nullptr);

// A Number slice as a double. False if not a number.
bool json_number(const JsonSlice& s, double* out);

}  // namespace vigil
