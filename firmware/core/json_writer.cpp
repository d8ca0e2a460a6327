#include "json_writer.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace vigil {

JsonWriter::JsonWriter(char* buf, size_t cap) : buf_(buf), cap_(cap) {
  if (buf_ == nullptr || cap_ == 0) ok_ = false;
}

void JsonWriter::put(char c) {
  if (!ok_) return;
  // Keep one byte for the terminating NUL written by finish().
  if (len_ + 1 >= cap_) { ok_ = false; return; }
  buf_[len_++] = c;
}

void JsonWriter::put(const char* s, size_t n) {
  if (!ok_) return;
  if (len_ + n + 1 > cap_) { ok_ = false; return; }
  std::memcpy(buf_ + len_, s, n);
  len_ += n;
}

// A value or key inside a container gets a comma unless it is the first.
void JsonWriter::separator() {
  if (after_key_) { after_key_ = false; return; }
  if (depth_ == 0) return;
  const uint32_t bit = 1u << (depth_ - 1);
  if (has_member_ & bit) put(',');
  has_member_ |= bit;
}

JsonWriter& JsonWriter::begin_object() {
  separator();
  put('{');
  if (depth_ >= 31) { ok_ = false; return *this; }
  ++depth_;
  has_member_ &= ~(1u << (depth_ - 1));
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  if (depth_ == 0 || after_key_) { ok_ = false; return *this; }
  --depth_;
  put('}');
  return *this;
}

JsonWriter& JsonWriter::key(const char* name) {
  if (after_key_ || depth_ == 0) { ok_ = false; return *this; }
  separator();
  quoted(name, std::strlen(name));
  put(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::string(const char* s) { return string(s, s == nullptr ? 0 : std::strlen(s)); }

JsonWriter& JsonWriter::string(const char* s, size_t n) {
  separator();
  quoted(s, n);
  return *this;
}

void JsonWriter::quoted(const char* s, size_t n) {
  put('"');
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': put("\\\"", 2); break;
      case '\\': put("\\\\", 2); break;
      case '\n': put("\\n", 2); break;
      case '\r': put("\\r", 2); break;
      case '\t': put("\\t", 2); break;
      case '\b': put("\\b", 2); break;
      case '\f': put("\\f", 2); break;
      default:
        if (c < 0x20) {
          const char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
          put(esc, 6);
        } else {
          put(static_cast<char>(c));
        }
    }
  }
  put('"');
}

JsonWriter& JsonWriter::integer(int64_t v) {
  separator();
  char tmp[24];
  const int n = std::snprintf(tmp, sizeof tmp, "%lld", static_cast<long long>(v));
  put(tmp, static_cast<size_t>(n));
  return *this;
}

JsonWriter& JsonWriter::number(double v, int max_decimals) {
  if (!std::isfinite(v)) return null();
  separator();
  if (max_decimals < 0) max_decimals = 0;
  if (max_decimals > 9) max_decimals = 9;
  char tmp[40];
  int n = std::snprintf(tmp, sizeof tmp, "%.*f", max_decimals, v);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof tmp) { ok_ = false; return *this; }
  if (max_decimals > 0) {
    while (n > 0 && tmp[n - 1] == '0') --n;
    if (n > 0 && tmp[n - 1] == '.') --n;
  }
  // "-0" (a small negative rounded to zero) is printed as JavaScript does: 0.
  if (n == 2 && tmp[0] == '-' && tmp[1] == '0') { tmp[0] = '0'; n = 1; }
  put(tmp, static_cast<size_t>(n));
  return *this;
}

JsonWriter& JsonWriter::boolean(bool v) {
  separator();
  if (v) put("true", 4);
  else put("false", 5);
  return *this;
}

JsonWriter& JsonWriter::null() {
  separator();
  put("null", 4);
  return *this;
}

JsonWriter& JsonWriter::raw(const char* json, size_t n) {
  separator();
  put(json, n);
  return *this;
}

size_t JsonWriter::finish() {
  if (!ok_ || depth_ != 0 || after_key_) { ok_ = false; return 0; }
  buf_[len_] = '\0';
  return len_;
}

}  // namespace vigil
