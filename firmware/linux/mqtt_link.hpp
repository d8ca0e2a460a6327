// The agent's MQTT side: libmosquitto driven by its own network thread,
// separate from the application loop exactly as esp-mqtt's task is on the
// ESP32. The thread connects (jittered exponential backoff between
// attempts), runs mosquitto_loop(), which answers keep-alive with PINGREQ
// whatever the application loop does, and posts what happened to a bounded
// queue the application loop drains (woken through an eventfd).
#pragma once

#include <mosquitto.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "backoff.hpp"
#include "device.hpp"

namespace agent {

struct LinkConfig {
  std::string id;
  std::string host;
  int port = 1883;
  int keepalive_s = 60;
  std::string username;
  std::string password;
  std::string cafile;
  std::string will_topic;
  std::string will_payload;
  std::string commands_topic;
  vigil::BackoffConfig backoff;
};

struct LinkEvent {
  enum Kind : uint8_t { Connected, Disconnected, Published, Command } kind;
  int mid;
  uint16_t len;
  char payload[2048];
};

class MqttLink final : public vigil::Transport {
 public:
  static constexpr size_t kQueue = 128;

  MqttLink();
  ~MqttLink();
  bool start(const LinkConfig& config, std::string* error);
  // Sends DISCONNECT (when connected) and stops the network thread; waits
  // at most `wait_ms` for it.
  void shutdown(int wait_ms);

  bool publish(const char* topic, const char* payload, size_t len, int qos, bool retain, int* msg_id) override;
  bool subscribe(const char* topic, int qos) override;

  int event_fd() const { return event_fd_; }
  // The next event, false when none; clears the eventfd when drained.
  bool next_event(LinkEvent* out);
  uint32_t dropped_events() const { return dropped_events_.load(); }

 private:
  static void on_connect(struct mosquitto*, void* self, int rc);
  static void on_disconnect(struct mosquitto*, void* self, int rc);
  static void on_publish(struct mosquitto*, void* self, int mid);
  static void on_message(struct mosquitto*, void* self, const struct mosquitto_message* msg);
  void run();
  void post(LinkEvent::Kind kind, int mid, const void* payload, size_t len);
  void pause(uint32_t ms);

  LinkConfig config_;
  struct mosquitto* mosq_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  LinkEvent* queue_ = nullptr;  // kQueue slots, allocated once at start
  size_t head_ = 0, count_ = 0;
  std::atomic<uint32_t> dropped_events_{0};
  int event_fd_ = -1;
  vigil::Backoff backoff_{vigil::BackoffConfig{}};
  vigil::XorShift32 rng_{1};
};

}  // namespace agent
