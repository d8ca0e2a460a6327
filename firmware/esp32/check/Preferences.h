#pragma once
#include <cstddef>
#include <cstdint>
class Preferences {
 public:
  bool begin(const char* name, bool readOnly);
  uint32_t getUInt(const char* key, uint32_t defaultValue);
  size_t putUInt(const char* key, uint32_t value);
  size_t getBytes(const char* key, void* buf, size_t maxLen);
  size_t putBytes(const char* key, const void* value, size_t len);
};
