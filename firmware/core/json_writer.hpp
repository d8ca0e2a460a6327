// JSON encoding into a caller-provided buffer: no heap, no exceptions. Every
// write is bounds-checked; once the buffer is too small the writer latches
// `ok() == false` and the caller drops the message instead of sending a
// truncated one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vigil {

class JsonWriter {
 public:
  JsonWriter(char* buf, size_t cap);

  JsonWriter& begin_object();
  JsonWriter& end_object();
  // Object member name; the value call that follows writes the value.
  JsonWriter& key(const char* name);
  JsonWriter& string(const char* s);
  JsonWriter& string(const char* s, size_t len);
  JsonWriter& integer(int64_t v);
  // `v` with at most `max_decimals` decimals, trailing zeros dropped (0.50 ->
  // 0.5, 2.000 -> 2), the way JavaScript prints short decimals, so the
  // simulator's payloads and ours agree byte for byte. Non-finite -> null.
  JsonWriter& number(double v, int max_decimals);
  JsonWriter& boolean(bool v);
  JsonWriter& null();
  // Already-encoded JSON (e.g. command args echoed back), copied verbatim.
  JsonWriter& raw(const char* json, size_t len);

  bool ok() const { return ok_; }
  size_t size() const { return len_; }
  const char* data() const { return buf_; }
  // NUL-terminates (when there is room) and returns the length, or 0 when
  // the encoding did not fit.
  size_t finish();

 private:
  void put(char c);
  void put(const char* s, size_t n);
  void separator();
  void quoted(const char* s, size_t n);

  char* buf_;
  size_t cap_;
  size_t len_ = 0;
  bool ok_ = true;
  // One bit per nesting level: whether the container already has a member.
  uint32_t has_member_ = 0;
  int depth_ = 0;
  bool after_key_ = false;
};

}  // namespace vigil
