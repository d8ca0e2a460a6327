#include "options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "version.hpp"

namespace agent {

const char* const kUsage =
    "usage: vigil-agent --id ID [--host H] [--port P] [--interval SECONDS]\n"
    "                   [--username U --password-file F] [--cafile F] [--state-dir DIR]\n"
    "                   [--keepalive SECONDS] [--buffer-pages N] [--page-size BYTES]\n"
    "                   [--reconnect-min SECONDS] [--reconnect-max SECONDS] [--reconnect-fixed]\n"
    "\n"
    "A Vigil device agent for Linux gateways: birth, will, heartbeats from the application\n"
    "loop, telemetry (load, memory) buffered while offline, commands echo and restart.\n"
    "Signals: TERM/INT stop gracefully; USR1 stalls the application loop (the MQTT thread\n"
    "keeps the connection alive), USR2 resumes it.\n";

namespace {

bool to_double(const char* s, double lo, double hi, double* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v) || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool to_int(const char* s, long lo, long hi, long* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

bool parse_options(int argc, char** argv, Options* o, std::string* error, bool* exit_now) {
  *exit_now = false;
  auto bad = [&](const char* flag, const char* value, const char* allowed) {
    *error = std::string(flag) + ": expected " + allowed + ", got \"" + (value != nullptr ? value : "") + "\"";
    return false;
  };
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0) {
      *error = kUsage;
      *exit_now = true;
      return true;
    }
    if (std::strcmp(a, "--version") == 0) {
      *error = std::string("vigil-agent ") + kAgentVersion + "\n";
      *exit_now = true;
      return true;
    }
    if (std::strcmp(a, "--reconnect-fixed") == 0) { o->reconnect_fixed = true; continue; }
    const bool known = std::strcmp(a, "--id") == 0 || std::strcmp(a, "--host") == 0 || std::strcmp(a, "--port") == 0 ||
                       std::strcmp(a, "--interval") == 0 || std::strcmp(a, "--username") == 0 ||
                       std::strcmp(a, "--password-file") == 0 || std::strcmp(a, "--cafile") == 0 ||
                       std::strcmp(a, "--state-dir") == 0 || std::strcmp(a, "--keepalive") == 0 ||
                       std::strcmp(a, "--buffer-pages") == 0 || std::strcmp(a, "--page-size") == 0 ||
                       std::strcmp(a, "--reconnect-min") == 0 || std::strcmp(a, "--reconnect-max") == 0;
    if (!known) {
      *error = std::string("unknown argument \"") + a + "\" (see --help)";
      return false;
    }
    if (i + 1 >= argc) {
      *error = std::string(a) + ": missing value";
      return false;
    }
    const char* v = argv[++i];
    double d = 0;
    long n = 0;
    if (std::strcmp(a, "--id") == 0) {
      o->id = v;
      if (o->id.empty() || o->id.size() > 64 || o->id.find_first_of("/+#") != std::string::npos)
        return bad(a, v, "1 to 64 characters without / + #");
    } else if (std::strcmp(a, "--host") == 0) {
      if (*v == '\0') return bad(a, v, "a host name or address");
      o->host = v;
    } else if (std::strcmp(a, "--port") == 0) {
      if (!to_int(v, 1, 65535, &n)) return bad(a, v, "a port 1..65535");
      o->port = static_cast<int>(n);
    } else if (std::strcmp(a, "--interval") == 0) {
      if (!to_double(v, 0.1, 86400, &d)) return bad(a, v, "seconds from 0.1 to 86400");
      o->interval_s = d;
    } else if (std::strcmp(a, "--username") == 0) {
      o->username = v;
    } else if (std::strcmp(a, "--password-file") == 0) {
      o->password_file = v;
    } else if (std::strcmp(a, "--cafile") == 0) {
      o->cafile = v;
    } else if (std::strcmp(a, "--state-dir") == 0) {
      if (*v == '\0') return bad(a, v, "a directory");
      o->state_dir = v;
    } else if (std::strcmp(a, "--keepalive") == 0) {
      // libmosquitto refuses keep-alives under 5 s.
      if (!to_int(v, 5, 65535, &n)) return bad(a, v, "seconds from 5 to 65535");
      o->keepalive_s = static_cast<int>(n);
    } else if (std::strcmp(a, "--buffer-pages") == 0) {
      if (!to_int(v, 1, 64, &n)) return bad(a, v, "1 to 64 pages");
      o->buffer_pages = static_cast<uint16_t>(n);
    } else if (std::strcmp(a, "--page-size") == 0) {
      if (!to_int(v, 128, 16384, &n)) return bad(a, v, "128 to 16384 bytes");
      o->page_size = static_cast<uint16_t>(n);
    } else if (std::strcmp(a, "--reconnect-min") == 0) {
      if (!to_double(v, 0.01, 3600, &d)) return bad(a, v, "seconds from 0.01 to 3600");
      o->reconnect_min_s = d;
    } else if (std::strcmp(a, "--reconnect-max") == 0) {
      if (!to_double(v, 0.01, 3600, &d)) return bad(a, v, "seconds from 0.01 to 3600");
      o->reconnect_max_s = d;
    }
  }
  if (o->id.empty()) {
    *error = "--id: required (the MQTT clientId and the {id} in devices/{id}/...)";
    return false;
  }
  if (o->username.empty() != o->password_file.empty()) {
    *error = "--username and --password-file go together";
    return false;
  }
  if (o->port == 0) o->port = o->cafile.empty() ? 1883 : 8883;
  // A maximum below the minimum asks for fast retries: the minimum follows it down.
  if (o->reconnect_max_s < o->reconnect_min_s) o->reconnect_min_s = o->reconnect_max_s;
  return true;
}

}  // namespace agent
