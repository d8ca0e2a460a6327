// Test doubles for the device's injected I/O: a transport that records what
// was published, and hooks with settable readings and clock.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "device.hpp"

namespace fake {

struct Sent {
  std::string topic;
  std::string payload;
  int qos;
  bool retain;
  int mid;
};

struct Transport final : vigil::Transport {
  std::vector<Sent> sent;
  std::vector<std::string> subscriptions;
  bool accept = true;
  int next_mid = 1;
  bool publish(const char* topic, const char* payload, size_t len, int qos, bool retain, int* msg_id) override {
    if (!accept) return false;
    const int mid = next_mid++;
    if (msg_id != nullptr) *msg_id = mid;
    sent.push_back(Sent{topic, std::string(payload, len), qos, retain, mid});
    return true;
  }
  bool subscribe(const char* topic, int qos) override {
    subscriptions.push_back(std::string(topic) + "@" + std::to_string(qos));
    return true;
  }
  std::vector<Sent> on(const std::string& topic) const {
    std::vector<Sent> out;
    for (const auto& s : sent) if (s.topic == topic) out.push_back(s);
    return out;
  }
  void clear() { sent.clear(); }
};

struct Hooks final : vigil::Hooks {
  int64_t clock = 1763700000;
  double values[2] = {0.5, 1000};
  bool readable = true;
  std::vector<uint8_t> saved;
  int saves = 0;
  int executed_other = 0;
  int64_t unix_time() override { return clock; }
  bool read_telemetry(double* out) override {
    if (!readable) return false;
    out[0] = values[0];
    out[1] = values[1];
    return true;
  }
  int64_t free_heap() override { return 123456; }
  int64_t rssi() override { return -61; }
  void save_commands(const uint8_t* image, size_t len) override {
    saved.assign(image, image + len);
    ++saves;
  }
  bool execute(const vigil::Command& command, vigil::JsonWriter& result) override {
    if (std::strcmp(command.name, "blink") == 0) {
      ++executed_other;
      result.begin_object().key("blinked").boolean(true).end_object();
      return true;
    }
    return vigil::Hooks::execute(command, result);
  }
};

}  // namespace fake
