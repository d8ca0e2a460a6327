// Command de-duplication: the last kEntries command ids with the ack each
// got. A command whose id is in the window is acked again with the same
// status and result and is not executed a second time (the broker re-sends
// the same id when an ack is lost). The window can be saved to and restored
// from non-volatile storage so a `restart` command is not repeated after the
// reboot it caused.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vigil {

class CommandWindow {
 public:
  static constexpr size_t kEntries = 16;
  static constexpr size_t kMaxId = 63;
  static constexpr size_t kMaxResult = 255;

  struct Entry {
    char id[kMaxId + 1];
    uint8_t ok;  // 1 = "ok", 0 = "error" (a byte: restored from storage as is)
    uint16_t result_len;
    char result[kMaxResult + 1];  // encoded JSON
  };

  // The entry for `id`, or null.
  const Entry* find(const char* id) const;
  // Records an id (replacing the oldest entry when full). False when the id
  // or the result is too long to keep.
  bool record(const char* id, bool ok, const char* result, size_t result_len);
  size_t size() const { return count_; }

  // Binary image for storage: magic, version, entries, CRC-32.
  static constexpr size_t kImageSize = 8 + kEntries * sizeof(Entry) + 4;
  size_t save(uint8_t* out, size_t cap) const;
  // False (and the window left empty) when the image is corrupt.
  bool restore(const uint8_t* in, size_t len);

 private:
  Entry entries_[kEntries] = {};
  size_t count_ = 0;
  size_t next_ = 0;  // slot the next record() overwrites
};

uint32_t crc32(const uint8_t* data, size_t len);

}  // namespace vigil
