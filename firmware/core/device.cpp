#include "device.hpp"

#include <cmath>
#include <cstring>

namespace vigil {

Device::Device(const DeviceConfig& config, Transport& transport, Hooks& hooks, PageRing& ring, uint64_t now_ms)
    : config_(config), transport_(transport), hooks_(hooks), ring_(ring), boot_ms_(now_ms) {
  if (config_.window == 0) config_.window = 1;
  if (config_.window > kMaxWindow) config_.window = kMaxWindow;
  if (config_.heartbeat_ms == 0) config_.heartbeat_ms = 1000;
  if (config_.sample_ms == 0 || config_.sample_ms > config_.heartbeat_ms) config_.sample_ms = config_.heartbeat_ms;
  if (config_.fw == nullptr) config_.fw = "0.0.0";
  valid_ = make_topics(config_.id, &topics_) && config_.field_count <= kMaxFields &&
           (config_.field_count == 0 || config_.fields != nullptr);
  will_len_ = encode_will(will_, sizeof will_);
  next_sample_ms_ = now_ms;
}

void Device::on_connected(uint64_t now_ms) {
  if (!valid_ || state_ == DeviceState::Stopping) return;
  state_ = DeviceState::Online;
  // Birth first, so the retained status says `online` before anything else.
  const size_t n = encode_birth(payload_, sizeof payload_, hooks_.unix_time(), config_.fw, config_.boot);
  int mid = -1;
  if (n > 0) transport_.publish(topics_.status, payload_, n, 1, true, &mid);
  transport_.subscribe(topics_.commands, 1);
  // The first heartbeat at once: it announces heartbeat_interval, so the
  // broker applies the right silence threshold from the start.
  send_heartbeat(now_ms);
  drain();
}

void Device::on_disconnected(uint64_t now_ms) {
  (void)now_ms;
  if (state_ == DeviceState::Online) state_ = DeviceState::Disconnected;
  if (config_.resend_on_reconnect) {
    // The stack dropped what was in flight: hand it out again, in order.
    ring_.rewind();
    inflight_count_ = 0;
  }
}

void Device::on_published(int msg_id) {
  if (msg_id < 0) return;
  if (restart_pending_ && msg_id == restart_msg_id_) restart_acked_ = true;
  if (state_ == DeviceState::Stopping && msg_id == stop_msg_id_) stop_acked_ = true;
  for (size_t i = 0; i < inflight_count_; ++i) {
    if (inflight_[i].msg_id != msg_id) continue;
    ring_.ack(inflight_[i].seq);
    inflight_[i] = inflight_[--inflight_count_];
    // Room in the window: keep draining without waiting for the next tick.
    if (state_ == DeviceState::Online) drain();
    return;
  }
}

void Device::ack(const char* id, bool ok, const char* result, size_t result_len, int* msg_id) {
  const size_t n = encode_ack(ack_, sizeof ack_, id, ok, result, result_len);
  if (n > 0) transport_.publish(topics_.ack, ack_, n, 1, false, msg_id);
}

void Device::on_command(const char* payload, size_t len, uint64_t now_ms) {
  if (state_ != DeviceState::Online) return;
  Command cmd;
  const ParseResult parsed = parse_command(payload, len, &cmd);
  if (parsed == ParseResult::Invalid || parsed == ParseResult::NoId) return;  // nothing to ack to
  int mid = -1;
  if (const CommandWindow::Entry* seen = window_.find(cmd.id)) {
    // A repeated id (the broker's retry after a lost ack): ack again, same answer.
    ack(seen->id, seen->ok != 0, seen->result, seen->result_len, &mid);
    return;
  }
  if (parsed == ParseResult::BadName) {
    static const char kBad[] = "\"bad_command\"";
    ack(cmd.id, false, kBad, sizeof kBad - 1, &mid);
    return;
  }
  JsonWriter result(result_, sizeof result_);
  bool ok;
  bool restart = false;
  if (std::strcmp(cmd.name, "echo") == 0) {
    if (cmd.args.type == JsonType::Null) result.null();
    else result.raw(cmd.args.ptr, cmd.args.len);
    ok = true;
  } else if (std::strcmp(cmd.name, "restart") == 0) {
    result.begin_object().key("boot").integer(config_.boot).end_object();
    ok = true;
    restart = true;
  } else {
    ok = hooks_.execute(cmd, result);
  }
  size_t rlen = result.finish();
  if (!result.ok()) {
    // The result does not fit the window's record: an error, never a
    // truncated answer, and nothing executed twice.
    static const char kBig[] = "\"result_too_large\"";
    std::memcpy(result_, kBig, sizeof kBig);
    rlen = sizeof kBig - 1;
    ok = false;
    restart = false;
  }
  // Recorded (and persisted) before the effect, so a restart that follows
  // never runs again when the broker re-sends the same id after the reboot.
  window_.record(cmd.id, ok, result_, rlen);
  const size_t image = window_.save(image_, sizeof image_);
  if (image > 0) hooks_.save_commands(image_, image);
  ++executed_;
  ack(cmd.id, ok, result_, rlen, &mid);
  if (restart) {
    restart_pending_ = true;
    restart_msg_id_ = mid;
    restart_at_ms_ = now_ms;
  }
}

void Device::send_heartbeat(uint64_t now_ms) {
  Heartbeat hb{hooks_.unix_time(), static_cast<int64_t>((now_ms - boot_ms_) / 1000), hooks_.free_heap(), hooks_.rssi(),
               config_.heartbeat_ms / 1000.0};
  const size_t n = encode_heartbeat(payload_, sizeof payload_, hb);
  int mid = -1;
  if (n > 0 && transport_.publish(topics_.heartbeat, payload_, n, 0, false, &mid)) ++heartbeats_;
  next_heartbeat_ms_ = now_ms + config_.heartbeat_ms;
}

// Telemetry on change beyond the dead band, else at the heartbeat period.
// Readings go through the ring whether online or not, so they leave in the
// order they were taken.
void Device::sample(uint64_t now_ms) {
  next_sample_ms_ = now_ms + config_.sample_ms;
  if (config_.field_count == 0) return;
  double values[kMaxFields];
  if (!hooks_.read_telemetry(values)) return;
  bool send = !have_telemetry_ || now_ms - last_telemetry_ms_ >= config_.heartbeat_ms;
  for (size_t i = 0; i < config_.field_count && !send; ++i) {
    if (std::fabs(values[i] - last_sent_[i]) > config_.fields[i].dead_band) send = true;
  }
  if (!send) return;
  const size_t n = encode_telemetry(payload_, sizeof payload_, hooks_.unix_time(), ring_.next_seq(), config_.fields, values,
                                    config_.field_count, ring_.dropped());
  if (n == 0 || !ring_.push(payload_, static_cast<uint16_t>(n))) return;
  ++produced_;
  have_telemetry_ = true;
  last_telemetry_ms_ = now_ms;
  for (size_t i = 0; i < config_.field_count; ++i) last_sent_[i] = values[i];
}

void Device::drain() {
  PageRing::Message m;
  while (inflight_count_ < config_.window && ring_.next_unsent(&m)) {
    int mid = -1;
    if (!transport_.publish(topics_.telemetry, m.data, m.len, 1, false, &mid)) return;
    ring_.mark_sent(m.seq);
    inflight_[inflight_count_++] = Inflight{mid, m.seq};
  }
}

void Device::tick(uint64_t now_ms) {
  if (state_ == DeviceState::Stopping) return;
  if (now_ms >= next_sample_ms_) sample(now_ms);
  if (state_ != DeviceState::Online) return;
  if (now_ms >= next_heartbeat_ms_) send_heartbeat(now_ms);
  drain();
}

uint64_t Device::next_deadline(uint64_t now_ms) const {
  uint64_t d = next_sample_ms_;
  if (state_ == DeviceState::Online && next_heartbeat_ms_ < d) d = next_heartbeat_ms_;
  if (state_ == DeviceState::Stopping) d = now_ms + config_.heartbeat_ms;
  return d < now_ms ? now_ms : d;
}

void Device::stop(uint64_t now_ms) {
  if (state_ == DeviceState::Stopping) return;
  const bool online = state_ == DeviceState::Online;
  state_ = DeviceState::Stopping;
  stop_at_ms_ = now_ms;
  if (!online) { stop_acked_ = true; return; }
  const size_t n = encode_graceful(payload_, sizeof payload_);
  if (n == 0 || !transport_.publish(topics_.status, payload_, n, 1, true, &stop_msg_id_)) stop_acked_ = true;
}

bool Device::stop_done(uint64_t now_ms) const {
  return state_ == DeviceState::Stopping && (stop_acked_ || now_ms - stop_at_ms_ >= config_.ack_wait_ms);
}

bool Device::restart_due(uint64_t now_ms) const {
  return restart_pending_ && (restart_acked_ || now_ms - restart_at_ms_ >= config_.ack_wait_ms);
}

}  // namespace vigil
