// The device side of the protocol as one state machine, single-threaded and
// portable: the platform (ESP32 loop task, Linux agent's application thread)
// calls it with the monotonic time and the connection events its MQTT stack
// reported, and the device answers through the injected Transport and Hooks.
//
// Heartbeats and telemetry come from tick(), i.e. from the application loop,
// never from the MQTT task: when the loop freezes the heartbeats stop while
// the MQTT task keeps answering PINGREQ, and the broker reports `silent`.
//
// No heap: every buffer is a member or caller-owned (the ring's pages).
#pragma once

#include <cstddef>
#include <cstdint>

#include "backoff.hpp"
#include "command_window.hpp"
#include "json_writer.hpp"
#include "page_ring.hpp"
#include "protocol.hpp"

namespace vigil {

class Transport {
 public:
  // Hands one message to the MQTT stack. For QoS 1, `*msg_id` receives the
  // id that on_published() will report once the broker acknowledged it, and
  // true means the stack owns the message (it may still be sent after a
  // reconnect). False: not accepted, nothing was queued.
  virtual bool publish(const char* topic, const char* payload, size_t len, int qos, bool retain, int* msg_id) = 0;
  virtual bool subscribe(const char* topic, int qos) = 0;

 protected:
  ~Transport() = default;
};

class Hooks {
 public:
  // Device clock in Unix seconds, 0 while it is not set (no NTP yet).
  virtual int64_t unix_time() = 0;
  // Fills one value per configured telemetry field; false = no reading now.
  virtual bool read_telemetry(double* values) = 0;
  virtual int64_t free_heap() = 0;
  virtual int64_t rssi() = 0;
  // Persists the command window image (NVS, a file) before a command runs.
  virtual void save_commands(const uint8_t* image, size_t len) = 0;
  // Commands other than `echo` and `restart`. Write the result JSON into
  // `result` (or nothing for null); return whether it succeeded.
  virtual bool execute(const Command& command, JsonWriter& result) {
    (void)command;
    result.string("unknown_command");
    return false;
  }

 protected:
  ~Hooks() = default;
};

struct DeviceConfig {
  const char* id = nullptr;
  const char* fw = "0.0.0";
  uint32_t boot = 0;
  uint32_t heartbeat_ms = 30000;
  // How often telemetry is sampled (and compared with the dead band).
  uint32_t sample_ms = 1000;
  const TelemetryField* fields = nullptr;
  size_t field_count = 0;
  // Buffered telemetry in flight (handed to the stack, not yet acked) at once.
  uint8_t window = 8;
  // true: the MQTT stack forgets in-flight QoS 1 messages on disconnect
  // (PubSubClient-like), so the ring re-sends them. false: the stack keeps
  // and re-sends them itself (libmosquitto, esp-mqtt's outbox).
  bool resend_on_reconnect = false;
  // How long a `restart` waits for its ack's PUBACK, and stop() for the
  // graceful status's, before going ahead anyway.
  uint32_t ack_wait_ms = 3000;
};

enum class DeviceState : uint8_t { Disconnected, Online, Stopping };

class Device {
 public:
  static constexpr size_t kMaxFields = 8;
  static constexpr size_t kMaxWindow = 16;
  static constexpr size_t kPayloadCap = 384;
  static constexpr size_t kAckCap = 512;

  // `ring` holds telemetry produced while offline; it must outlive the device.
  Device(const DeviceConfig& config, Transport& transport, Hooks& hooks, PageRing& ring, uint64_t now_ms);

  bool valid() const { return valid_; }
  const Topics& topics() const { return topics_; }
  // For CONNECT: the will (QoS 1, retained) on topics().status.
  const char* will_payload() const { return will_; }
  size_t will_len() const { return will_len_; }

  // Restores the command window saved by Hooks::save_commands (at boot).
  bool restore_commands(const uint8_t* image, size_t len) { return window_.restore(image, len); }

  // CONNACK 0: birth, command subscription, first heartbeat, drain.
  void on_connected(uint64_t now_ms);
  void on_disconnected(uint64_t now_ms);
  // PUBACK for a QoS 1 message id.
  void on_published(int msg_id);
  // A PUBLISH on topics().commands.
  void on_command(const char* payload, size_t len, uint64_t now_ms);
  // The application loop's turn: sample, heartbeat, drain.
  void tick(uint64_t now_ms);
  // When tick() next has something to do (monotonic ms).
  uint64_t next_deadline(uint64_t now_ms) const;

  // Graceful stop: the offline status (`graceful`), then the platform
  // disconnects once stop_done() says the status was acknowledged.
  void stop(uint64_t now_ms);
  bool stop_done(uint64_t now_ms) const;
  // A `restart` was acked (or its ack timed out): reboot now.
  bool restart_due(uint64_t now_ms) const;

  DeviceState state() const { return state_; }
  uint32_t heartbeats_sent() const { return heartbeats_; }
  uint32_t commands_executed() const { return executed_; }
  uint32_t telemetry_produced() const { return produced_; }
  const PageRing& ring() const { return ring_; }

 private:
  void send_heartbeat(uint64_t now_ms);
  void sample(uint64_t now_ms);
  void drain();
  void ack(const char* id, bool ok, const char* result, size_t result_len, int* msg_id);

  struct Inflight {
    int msg_id;
    uint32_t seq;
  };

  DeviceConfig config_;
  Transport& transport_;
  Hooks& hooks_;
  PageRing& ring_;
  CommandWindow window_;
  Topics topics_ = {};
  bool valid_ = false;
  DeviceState state_ = DeviceState::Disconnected;
  uint64_t boot_ms_;
  uint64_t next_heartbeat_ms_ = 0;
  uint64_t next_sample_ms_ = 0;
  uint64_t last_telemetry_ms_ = 0;
  bool have_telemetry_ = false;
  double last_sent_[kMaxFields] = {};
  Inflight inflight_[kMaxWindow] = {};
  size_t inflight_count_ = 0;
  int restart_msg_id_ = -1;
  bool restart_pending_ = false;
  bool restart_acked_ = false;
  uint64_t restart_at_ms_ = 0;
  int stop_msg_id_ = -1;
  bool stop_acked_ = false;
  uint64_t stop_at_ms_ = 0;
  uint32_t heartbeats_ = 0;
  uint32_t executed_ = 0;
  uint32_t produced_ = 0;
  char will_[48] = {};
  size_t will_len_ = 0;
  char payload_[kPayloadCap] = {};
  char ack_[kAckCap] = {};
  char result_[CommandWindow::kMaxResult + 1] = {};
  uint8_t image_[CommandWindow::kImageSize] = {};
};

}  // namespace vigil
