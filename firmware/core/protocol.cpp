#include "protocol.hpp"

#include <cstdio>
#include <cstring>

#include "json_writer.hpp"

namespace vigil {

bool make_topics(const char* id, Topics* out) {
  if (id == nullptr || out == nullptr) return false;
  const size_t n = std::strlen(id);
  if (n == 0 || n > kMaxDeviceId) return false;
  for (size_t i = 0; i < n; ++i) {
    if (id[i] == '/' || id[i] == '+' || id[i] == '#') return false;
  }
  std::snprintf(out->status, kTopicCap, "devices/%s/status", id);
  std::snprintf(out->heartbeat, kTopicCap, "devices/%s/heartbeat", id);
  std::snprintf(out->telemetry, kTopicCap, "devices/%s/telemetry", id);
  std::snprintf(out->commands, kTopicCap, "devices/%s/commands", id);
  std::snprintf(out->ack, kTopicCap, "devices/%s/commands/ack", id);
  return true;
}

size_t encode_will(char* buf, size_t cap) {
  JsonWriter w(buf, cap);
  w.begin_object().key("state").string("offline").key("ts").integer(0).end_object();
  return w.finish();
}

size_t encode_birth(char* buf, size_t cap, int64_t ts, const char* fw, uint32_t boot) {
  JsonWriter w(buf, cap);
  w.begin_object().key("state").string("online").key("ts").integer(ts).key("fw").string(fw).key("boot").integer(boot).end_object();
  return w.finish();
}

size_t encode_heartbeat(char* buf, size_t cap, const Heartbeat& hb) {
  JsonWriter w(buf, cap);
  w.begin_object()
      .key("ts").integer(hb.ts)
      .key("uptime").integer(hb.uptime)
      .key("heap").integer(hb.heap)
      .key("rssi").integer(hb.rssi)
      .key("heartbeat_interval").number(hb.interval, 3)
      .end_object();
  return w.finish();
}

size_t encode_graceful(char* buf, size_t cap) {
  JsonWriter w(buf, cap);
  w.begin_object().key("state").string("offline").key("reason").string("graceful").end_object();
  return w.finish();
}

size_t encode_ack(char* buf, size_t cap, const char* id, bool ok, const char* result, size_t result_len) {
  JsonWriter w(buf, cap);
  w.begin_object().key("id").string(id).key("status").string(ok ? "ok" : "error").key("result");
  if (result == nullptr || result_len == 0) w.null();
  else w.raw(result, result_len);
  w.end_object();
  return w.finish();
}

size_t encode_telemetry(char* buf, size_t cap, int64_t ts, uint32_t seq, const TelemetryField* fields,
                        const double* values, size_t n, uint32_t dropped) {
  JsonWriter w(buf, cap);
  w.begin_object().key("ts").integer(ts).key("seq").integer(seq);
  for (size_t i = 0; i < n; ++i) w.key(fields[i].name).number(values[i], fields[i].decimals);
  w.key("dropped").integer(dropped).end_object();
  return w.finish();
}

ParseResult parse_command(const char* payload, size_t len, Command* out) {
  out->id[0] = '\0';
  out->name[0] = '\0';
  out->args = JsonSlice{};
  if (!json_valid(payload, len)) return ParseResult::Invalid;
  JsonSlice id;
  if (!json_member(payload, len, "id", &id)) return ParseResult::NoId;
  size_t id_len = 0;
  if (!json_string(id, out->id, sizeof out->id, &id_len) || id_len == 0) {
    out->id[0] = '\0';
    return ParseResult::NoId;
  }
  JsonSlice args;
  if (json_member(payload, len, "args", &args)) out->args = args;
  else out->args.type = JsonType::Null;
  JsonSlice name;
  size_t name_len = 0;
  if (!json_member(payload, len, "command", &name) || !json_string(name, out->name, sizeof out->name, &name_len) ||
      name_len == 0) {
    out->name[0] = '\0';
    return ParseResult::BadName;
  }
  return ParseResult::Ok;
}

}  // namespace vigil
