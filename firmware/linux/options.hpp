// vigil-agent's command line.
#pragma once

#include <cstdint>
#include <string>

namespace agent {

struct Options {
  std::string id;
  std::string host = "127.0.0.1";
  int port = 0;  // 0: 1883, or 8883 with --cafile
  double interval_s = 30;
  std::string username;
  std::string password_file;
  std::string cafile;
  std::string state_dir;  // "": $STATE_DIRECTORY (systemd), else /var/lib/vigil-agent
  int keepalive_s = 60;
  uint16_t buffer_pages = 16;
  uint16_t page_size = 1024;
  double reconnect_min_s = 1;
  double reconnect_max_s = 10;
  bool reconnect_fixed = false;
};

// Parses argv into `out`. On a bad argument returns false with a one-line
// message in `error`; `--help` / `--version` set `exit_now` with the text in `error`.
bool parse_options(int argc, char** argv, Options* out, std::string* error, bool* exit_now);

extern const char* const kUsage;

}  // namespace agent
