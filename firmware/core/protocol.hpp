// The device protocol's topics and payloads, encoded byte for byte the way
// the broker's docs and bench/simulator.ts write them:
//   will       devices/{id}/status     {"state":"offline","ts":0}            QoS 1, retained
//   birth      devices/{id}/status     {"state":"online","ts":S,"fw":"x","boot":N}  QoS 1, retained
//   heartbeat  devices/{id}/heartbeat  {"ts":S,"uptime":S,"heap":B,"rssi":D,"heartbeat_interval":S}  QoS 0
//   telemetry  devices/{id}/telemetry  {"ts":S,"seq":N,<fields>,"dropped":N}  QoS 1 (buffered)
//   commands   devices/{id}/commands   {"id","command","args","ts"}  (subscribed at QoS 1)
//   ack        devices/{id}/commands/ack  {"id":"..","status":"ok"|"error","result":..}  QoS 1
//   graceful   devices/{id}/status     {"state":"offline","reason":"graceful"}  QoS 1, retained
#pragma once

#include <cstddef>
#include <cstdint>

#include "json_reader.hpp"

namespace vigil {

constexpr size_t kMaxDeviceId = 64;
constexpr size_t kTopicCap = kMaxDeviceId + 32;

struct Topics {
  char status[kTopicCap];
  char heartbeat[kTopicCap];
  char telemetry[kTopicCap];
  char commands[kTopicCap];
  char ack[kTopicCap];
};

// False when `id` is empty, longer than kMaxDeviceId or holds a character
// that cannot appear in a topic level ('/', '+', '#', NUL).
bool make_topics(const char* id, Topics* out);

struct Heartbeat {
  int64_t ts;        // device clock, Unix seconds (0 = not set)
  int64_t uptime;    // seconds since boot
  int64_t heap;      // free heap / available memory, bytes
  int64_t rssi;      // dBm (0 = wired)
  double interval;   // heartbeat period, seconds
};

// Each returns the payload length (NUL-terminated in `buf`), or 0 when it
// does not fit `cap`.
size_t encode_will(char* buf, size_t cap);
size_t encode_birth(char* buf, size_t cap, int64_t ts, const char* fw, uint32_t boot);
size_t encode_heartbeat(char* buf, size_t cap, const Heartbeat& hb);
size_t encode_graceful(char* buf, size_t cap);
// `result` is encoded JSON, copied verbatim; null/0 writes `null`.
size_t encode_ack(char* buf, size_t cap, const char* id, bool ok, const char* result, size_t result_len);

struct TelemetryField {
  const char* name;
  double dead_band;  // a change larger than this is sent at once
  int decimals;
};
size_t encode_telemetry(char* buf, size_t cap, int64_t ts, uint32_t seq, const TelemetryField* fields,
                        const double* values, size_t n, uint32_t dropped);

constexpr size_t kMaxCommandId = 63;
constexpr size_t kMaxCommandName = 31;

struct Command {
  char id[kMaxCommandId + 1];
  char name[kMaxCommandName + 1];
  JsonSlice args;  // points into the payload; type Null when absent
};

enum class ParseResult : uint8_t { Ok, Invalid, NoId, BadName };
// Parses `{"id","command","args","ts"}`. With NoId nothing can be acked;
// with BadName the id is filled in and the command is acked as an error.
ParseResult parse_command(const char* payload, size_t len, Command* out);

}  // namespace vigil
