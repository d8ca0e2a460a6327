#include "command_window.hpp"

#include <cstring>

namespace vigil {

namespace {
constexpr uint32_t kMagic = 0x56434d44;  // "VCMD"
constexpr uint16_t kVersion = 1;

void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}
uint32_t get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
}  // namespace

uint32_t crc32(const uint8_t* data, size_t len) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < len; ++i) {
    crc ^= data[i];
    for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

const CommandWindow::Entry* CommandWindow::find(const char* id) const {
  if (id == nullptr) return nullptr;
  for (size_t i = 0; i < count_; ++i) {
    if (std::strcmp(entries_[i].id, id) == 0) return &entries_[i];
  }
  return nullptr;
}

bool CommandWindow::record(const char* id, bool ok, const char* result, size_t result_len) {
  if (id == nullptr) return false;
  const size_t id_len = std::strlen(id);
  if (id_len == 0 || id_len > kMaxId || result_len > kMaxResult) return false;
  Entry& e = entries_[next_];
  std::memcpy(e.id, id, id_len + 1);
  e.ok = ok ? 1 : 0;
  e.result_len = static_cast<uint16_t>(result_len);
  if (result_len > 0) std::memcpy(e.result, result, result_len);
  e.result[result_len] = '\0';
  next_ = (next_ + 1) % kEntries;
  if (count_ < kEntries) ++count_;
  return true;
}

size_t CommandWindow::save(uint8_t* out, size_t cap) const {
  if (out == nullptr || cap < kImageSize) return 0;
  std::memset(out, 0, kImageSize);
  put32(out, kMagic);
  out[4] = static_cast<uint8_t>(kVersion);
  out[5] = static_cast<uint8_t>(kVersion >> 8);
  out[6] = static_cast<uint8_t>(count_);
  out[7] = static_cast<uint8_t>(next_);
  std::memcpy(out + 8, entries_, sizeof entries_);
  put32(out + kImageSize - 4, crc32(out, kImageSize - 4));
  return kImageSize;
}

bool CommandWindow::restore(const uint8_t* in, size_t len) {
  count_ = 0;
  next_ = 0;
  std::memset(entries_, 0, sizeof entries_);
  if (in == nullptr || len != kImageSize) return false;
  if (get32(in) != kMagic || (in[4] | (in[5] << 8)) != kVersion) return false;
  if (get32(in + kImageSize - 4) != crc32(in, kImageSize - 4)) return false;
  if (in[6] > kEntries || in[7] >= kEntries) return false;
  std::memcpy(entries_, in + 8, sizeof entries_);
  for (size_t i = 0; i < in[6]; ++i) {
    // Untrusted bytes: every string must be terminated within its field.
    const Entry& e = entries_[i];
    if (std::memchr(e.id, '\0', sizeof e.id) == nullptr || e.ok > 1 || e.result_len > kMaxResult ||
        e.result[e.result_len] != '\0') {
      std::memset(entries_, 0, sizeof entries_);
      return false;
    }
  }
  count_ = in[6];
  next_ = in[7];
  return true;
}

}  // namespace vigil
