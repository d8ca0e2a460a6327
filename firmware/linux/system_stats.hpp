// The gateway's own readings, from /proc.
#pragma once

#include <cstdint>

namespace agent {

// 1-minute load average; false when /proc/loadavg is unreadable.
bool read_load1(double* out);
// MemAvailable in kB; false when /proc/meminfo is unreadable.
bool read_mem_available_kb(int64_t* out);
// Signal level (dBm) of the first wireless interface, 0 when wired.
int64_t read_rssi();

}  // namespace agent
