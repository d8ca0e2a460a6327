// What the agent keeps across restarts, in --state-dir: the boot counter
// (text, one number) and the command window (binary image with a CRC), each
// replaced atomically (write, fsync, rename), like NVS on the ESP32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace agent {

class StateDir {
 public:
  // Creates the directory when missing. False with a message in `error`.
  bool open(const std::string& dir, std::string* error);
  // Reads the boot counter, adds one, stores it; returns the new value.
  bool next_boot(uint32_t* boot, std::string* error);
  bool save(const char* name, const uint8_t* data, size_t len, std::string* error);
  // False when the file is absent or unreadable.
  bool load(const char* name, std::vector<uint8_t>* out);
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace agent
