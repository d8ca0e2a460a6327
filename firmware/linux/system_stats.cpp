#include "system_stats.hpp"

#include <cstdio>
#include <cstring>

namespace agent {

bool read_load1(double* out) {
  FILE* f = std::fopen("/proc/loadavg", "re");
  if (f == nullptr) return false;
  const bool ok = std::fscanf(f, "%lf", out) == 1;
  std::fclose(f);
  return ok;
}

bool read_mem_available_kb(int64_t* out) {
  FILE* f = std::fopen("/proc/meminfo", "re");
  if (f == nullptr) return false;
  char line[256];
  bool ok = false;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    long long kb = 0;
    if (std::sscanf(line, "MemAvailable: %lld kB", &kb) == 1) {
      *out = kb;
      ok = true;
      break;
    }
  }
  std::fclose(f);
  return ok;
}

int64_t read_rssi() {
  FILE* f = std::fopen("/proc/net/wireless", "re");
  if (f == nullptr) return 0;
  char line[256];
  int64_t rssi = 0;
  // Two header lines, then "wlan0: 0000   54.  -56.  -256 ...".
  for (int n = 0; std::fgets(line, sizeof line, f) != nullptr; ++n) {
    if (n < 2) continue;
    char name[64];
    int status = 0;
    double link = 0, level = 0;
    if (std::sscanf(line, " %63[^:]: %x %lf %lf", name, &status, &link, &level) == 4) {
      rssi = static_cast<int64_t>(level);
      break;
    }
  }
  std::fclose(f);
  return rssi;
}

}  // namespace agent
