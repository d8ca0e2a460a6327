#include "json_reader.hpp"

#include <cstdlib>
#include <cstring>

namespace vigil {
namespace {

struct Cursor {
  const char* p;
  const char* end;
};

void skip_ws(Cursor& c) {
  while (c.p < c.end && (*c.p == ' ' || *c.p == '\t' || *c.p == '\n' || *c.p == '\r')) ++c.p;
}

bool hex4(const char* p, const char* end, uint32_t* out) {
  if (end - p < 4) return false;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const char h = p[i];
    v <<= 4;
    if (h >= '0' && h <= '9') v |= static_cast<uint32_t>(h - '0');
    else if (h >= 'a' && h <= 'f') v |= static_cast<uint32_t>(h - 'a' + 10);
    else if (h >= 'A' && h <= 'F') v |= static_cast<uint32_t>(h - 'A' + 10);
    else return false;
  }
  *out = v;
  return true;
}

// A string starting at c.p (the quote); raw control characters are refused.
bool scan_string(Cursor& c) {
  if (c.p >= c.end || *c.p != '"') return false;
  ++c.p;
  while (c.p < c.end) {
    const unsigned char ch = static_cast<unsigned char>(*c.p);
    if (ch == '"') { ++c.p; return true; }
    if (ch < 0x20) return false;
    if (ch == '\\') {
      ++c.p;
      if (c.p >= c.end) return false;
      const char e = *c.p;
      if (e == 'u') {
        uint32_t v;
        if (!hex4(c.p + 1, c.end, &v)) return false;
        c.p += 5;
        continue;
      }
      if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0') return false;
    }
    ++c.p;
  }
  return false;
}

bool scan_number(Cursor& c) {
  const char* p = c.p;
  if (p < c.end && *p == '-') ++p;
  if (p >= c.end) return false;
  if (*p == '0') ++p;
  else if (*p >= '1' && *p <= '9') { while (p < c.end && *p >= '0' && *p <= '9') ++p; }
  else return false;
  if (p < c.end && *p == '.') {
    ++p;
    if (p >= c.end || *p < '0' || *p > '9') return false;
    while (p < c.end && *p >= '0' && *p <= '9') ++p;
  }
  if (p < c.end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < c.end && (*p == '+' || *p == '-')) ++p;
    if (p >= c.end || *p < '0' || *p > '9') return false;
    while (p < c.end && *p >= '0' && *p <= '9') ++p;
  }
  c.p = p;
  return true;
}

bool scan_literal(Cursor& c, const char* word) {
  const size_t n = std::strlen(word);
  if (static_cast<size_t>(c.end - c.p) < n || std::memcmp(c.p, word, n) != 0) return false;
  c.p += n;
  return true;
}

bool scan_value(Cursor& c, int depth, JsonSlice* out);

// Object members; `key`/`found` collect the top-level member asked for.
bool scan_object(Cursor& c, int depth, const char* key, JsonSlice* found) {
  ++c.p;  // '{'
  skip_ws(c);
  if (c.p < c.end && *c.p == '}') { ++c.p; return true; }
  for (;;) {
    skip_ws(c);
    const char* name = c.p;
    if (!scan_string(c)) return false;
    const char* name_end = c.p;
    skip_ws(c);
    if (c.p >= c.end || *c.p != ':') return false;
    ++c.p;
    skip_ws(c);
    JsonSlice value;
    if (!scan_value(c, depth + 1, &value)) return false;
    if (key != nullptr && found != nullptr) {
      // Keys are compared as written: command keys never need escapes.
      const size_t klen = std::strlen(key);
      if (static_cast<size_t>(name_end - name) == klen + 2 && std::memcmp(name + 1, key, klen) == 0) *found = value;
    }
    skip_ws(c);
    if (c.p >= c.end) return false;
    if (*c.p == ',') { ++c.p; continue; }
    if (*c.p == '}') { ++c.p; return true; }
    return false;
  }
}

bool scan_array(Cursor& c, int depth) {
  ++c.p;  // '['
  skip_ws(c);
  if (c.p < c.end && *c.p == ']') { ++c.p; return true; }
  for (;;) {
    skip_ws(c);
    JsonSlice value;
    if (!scan_value(c, depth + 1, &value)) return false;
    skip_ws(c);
    if (c.p >= c.end) return false;
    if (*c.p == ',') { ++c.p; continue; }
    if (*c.p == ']') { ++c.p; return true; }
    return false;
  }
}

bool scan_value(Cursor& c, int depth, JsonSlice* out) {
  if (c.p >= c.end) return false;
  const char* start = c.p;
  JsonType type;
  bool ok;
  switch (*c.p) {
    case '{':
      if (depth >= kMaxJsonDepth) return false;
      type = JsonType::Object; ok = scan_object(c, depth, nullptr, nullptr); break;
    case '[':
      if (depth >= kMaxJsonDepth) return false;
      type = JsonType::Array; ok = scan_array(c, depth); break;
    case '"': type = JsonType::String; ok = scan_string(c); break;
    case 't': type = JsonType::Bool; ok = scan_literal(c, "true"); break;
    case 'f': type = JsonType::Bool; ok = scan_literal(c, "false"); break;
    case 'n': type = JsonType::Null; ok = scan_literal(c, "null"); break;
    default: type = JsonType::Number; ok = scan_number(c); break;
  }
  if (!ok) return false;
  out->ptr = start;
  out->len = static_cast<size_t>(c.p - start);
  out->type = type;
  return true;
}

}  // namespace

bool json_valid(const char* doc, size_t len) {
  if (doc == nullptr) return false;
  Cursor c{doc, doc + len};
  skip_ws(c);
  JsonSlice v;
  if (!scan_value(c, 0, &v)) return false;
  skip_ws(c);
  return c.p == c.end;
}

bool json_member(const char* doc, size_t len, const char* key, JsonSlice* out) {
  if (doc == nullptr || key == nullptr || out == nullptr) return false;
  Cursor c{doc, doc + len};
  skip_ws(c);
  if (c.p >= c.end || *c.p != '{') return false;
  JsonSlice found;
  if (!scan_object(c, 1, key, &found)) return false;
  skip_ws(c);
  if (c.p != c.end || found.type == JsonType::Invalid) return false;
  *out = found;
  return true;
}

bool json_string(const JsonSlice& s, char* out, size_t cap, size_t* out_len) {
  if (s.type != JsonType::String || s.len < 2 || out == nullptr || cap == 0) return false;
  const char* p = s.ptr + 1;
  const char* end = s.ptr + s.len - 1;
  size_t n = 0;
  auto emit = [&](char ch) {
    if (n + 1 >= cap) return false;
    out[n++] = ch;
    return true;
  };
  while (p < end) {
    char ch = *p++;
    if (ch != '\\') { if (!emit(ch)) return false; continue; }
    const char e = *p++;
    switch (e) {
      case '"': ch = '"'; break;
      case '\\': ch = '\\'; break;
      case '/': ch = '/'; break;
      case 'b': ch = '\b'; break;
      case 'f': ch = '\f'; break;
      case 'n': ch = '\n'; break;
      case 'r': ch = '\r'; break;
      case 't': ch = '\t'; break;
      case 'u': {
        uint32_t cp;
        if (!hex4(p, end, &cp)) return false;
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, end, &lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
          p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return false;
        }
        if (cp == 0) return false;
        if (cp < 0x80) { if (!emit(static_cast<char>(cp))) return false; }
        else if (cp < 0x800) {
          if (!emit(static_cast<char>(0xC0 | (cp >> 6))) || !emit(static_cast<char>(0x80 | (cp & 0x3F)))) return false;
        } else if (cp < 0x10000) {
          if (!emit(static_cast<char>(0xE0 | (cp >> 12))) || !emit(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))) ||
              !emit(static_cast<char>(0x80 | (cp & 0x3F)))) return false;
        } else {
          if (!emit(static_cast<char>(0xF0 | (cp >> 18))) || !emit(static_cast<char>(0x80 | ((cp >> 12) & 0x3F))) ||
              !emit(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))) || !emit(static_cast<char>(0x80 | (cp & 0x3F)))) return false;
        }
        continue;
      }
      default: return false;
    }
    if (!emit(ch)) return false;
  }
  out[n] = '\0';
  if (out_len != nullptr) *out_len = n;
  return true;
}

bool json_number(const JsonSlice& s, double* out) {
  if (s.type != JsonType::Number || out == nullptr || s.len == 0 || s.len >= 64) return false;
  char tmp[64];
  std::memcpy(tmp, s.ptr, s.len);
  tmp[s.len] = '\0';
  char* endp = nullptr;
  const double v = std::strtod(tmp, &endp);
  if (endp != tmp + s.len) return false;
  *out = v;
  return true;
}

}  // namespace vigil
