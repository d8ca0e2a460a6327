#include "mqtt_link.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

namespace agent {

MqttLink::MqttLink() = default;

MqttLink::~MqttLink() {
  if (thread_.joinable()) thread_.detach();
  delete[] queue_;
  if (event_fd_ >= 0) ::close(event_fd_);
}

bool MqttLink::start(const LinkConfig& config, std::string* error) {
  config_ = config;
  backoff_ = vigil::Backoff(config.backoff);
  rng_ = vigil::XorShift32(static_cast<uint32_t>(::getpid()) * 2654435761u ^
                           static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  queue_ = new LinkEvent[kQueue];
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) {
    *error = "eventfd failed";
    return false;
  }
  mosquitto_lib_init();
  // Clean session: the device subscribes again on every CONNACK; commands
  // sent while it is offline are refused by the broker (409), not queued.
  mosq_ = mosquitto_new(config_.id.c_str(), true, this);
  if (mosq_ == nullptr) {
    *error = "mosquitto_new failed";
    return false;
  }
  // mosquitto_publish() is called from the application thread while this
  // link's thread runs mosquitto_loop(): libmosquitto must lock.
  mosquitto_threaded_set(mosq_, true);
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(mosq_, &MqttLink::on_connect);
  mosquitto_disconnect_callback_set(mosq_, &MqttLink::on_disconnect);
  mosquitto_publish_callback_set(mosq_, &MqttLink::on_publish);
  mosquitto_message_callback_set(mosq_, &MqttLink::on_message);
  int rc = mosquitto_will_set(mosq_, config_.will_topic.c_str(), static_cast<int>(config_.will_payload.size()),
                              config_.will_payload.data(), 1, true);
  if (rc == MOSQ_ERR_SUCCESS && !config_.username.empty())
    rc = mosquitto_username_pw_set(mosq_, config_.username.c_str(), config_.password.c_str());
  if (rc == MOSQ_ERR_SUCCESS && !config_.cafile.empty())
    rc = mosquitto_tls_set(mosq_, config_.cafile.c_str(), nullptr, nullptr, nullptr, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) {
    *error = std::string("MQTT setup: ") + mosquitto_strerror(rc);
    return false;
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

void MqttLink::pause(uint32_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  wake_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_.load(); });
}

void MqttLink::run() {
  bool first = true;
  bool socket_up = false;
  while (!stopping_.load()) {
    if (!socket_up) {
      const int rc = first ? mosquitto_connect(mosq_, config_.host.c_str(), config_.port, config_.keepalive_s)
                           : mosquitto_reconnect(mosq_);
      first = false;
      if (rc != MOSQ_ERR_SUCCESS) {
        const uint32_t delay = backoff_.next(rng_());
        std::fprintf(stderr, "vigil-agent: connect to %s:%d failed (%s); retrying in %u ms\n", config_.host.c_str(),
                     config_.port, rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc), delay);
        pause(delay);
        continue;
      }
      socket_up = true;
    }
    const int rc = mosquitto_loop(mosq_, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      socket_up = false;
      if (stopping_.load()) break;
      const uint32_t delay = backoff_.next(rng_());
      std::fprintf(stderr, "vigil-agent: connection lost (%s); reconnecting in %u ms\n", mosquitto_strerror(rc), delay);
      pause(delay);
    }
  }
  if (socket_up) {
    // DISCONNECT from this thread, then write it out ourselves: a threaded
    // libmosquitto only queues it, and mosquitto_loop() may report the
    // disconnected state before writing it, which the broker would take for a
    // lost connection (and publish the will).
    mosquitto_disconnect(mosq_);
    for (int i = 0; i < 100 && mosquitto_socket(mosq_) >= 0; ++i) {
      if (mosquitto_loop_write(mosq_, 1) != MOSQ_ERR_SUCCESS) break;
      ::usleep(10 * 1000);
    }
  }
  done_.store(true);
}

void MqttLink::shutdown(int wait_ms) {
  if (mosq_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_.store(true);
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;
  for (int waited = 0; !done_.load() && waited < wait_ms; waited += 10) ::usleep(10 * 1000);
  // A thread stuck in a blocking TCP connect is left behind; the process exits.
  if (!done_.load()) {
    thread_.detach();
    return;
  }
  thread_.join();
  mosquitto_destroy(mosq_);
  mosq_ = nullptr;
  mosquitto_lib_cleanup();
}

bool MqttLink::publish(const char* topic, const char* payload, size_t len, int qos, bool retain, int* msg_id) {
  int mid = 0;
  const int rc = mosquitto_publish(mosq_, &mid, topic, static_cast<int>(len), payload, qos, retain);
  if (msg_id != nullptr) *msg_id = mid;
  // At QoS 1 libmosquitto queues the message even without a connection and
  // re-sends it after reconnecting: the ring leaves it to the library.
  return rc == MOSQ_ERR_SUCCESS;
}

bool MqttLink::subscribe(const char* topic, int qos) {
  return mosquitto_subscribe(mosq_, nullptr, topic, qos) == MOSQ_ERR_SUCCESS;
}

void MqttLink::post(LinkEvent::Kind kind, int mid, const void* payload, size_t len) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (count_ == kQueue || len > sizeof(LinkEvent::payload)) {
      // Counted, never silent. A lost command is re-sent by the broker (same
      // id); a lost PUBACK only delays freeing a page until the window fills.
      dropped_events_.fetch_add(1);
      return;
    }
    LinkEvent& e = queue_[(head_ + count_) % kQueue];
    e.kind = kind;
    e.mid = mid;
    e.len = static_cast<uint16_t>(len);
    if (len > 0) std::memcpy(e.payload, payload, len);
    ++count_;
  }
  const uint64_t one = 1;
  if (::write(event_fd_, &one, sizeof one) < 0) { /* the counter is saturated: the loop is awake anyway */ }
}

bool MqttLink::next_event(LinkEvent* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (count_ == 0) {
    uint64_t n;
    if (::read(event_fd_, &n, sizeof n) < 0) { /* nothing pending */ }
    return false;
  }
  const LinkEvent& e = queue_[head_];
  out->kind = e.kind;
  out->mid = e.mid;
  out->len = e.len;
  std::memcpy(out->payload, e.payload, e.len);
  head_ = (head_ + 1) % kQueue;
  --count_;
  return true;
}

void MqttLink::on_connect(struct mosquitto*, void* self, int rc) {
  auto* link = static_cast<MqttLink*>(self);
  if (rc != 0) {
    std::fprintf(stderr, "vigil-agent: connection refused: %s\n", mosquitto_connack_string(rc));
    return;
  }
  link->backoff_.reset();
  std::fprintf(stderr, "vigil-agent: connected to %s:%d as %s\n", link->config_.host.c_str(), link->config_.port,
               link->config_.id.c_str());
  link->post(LinkEvent::Connected, 0, nullptr, 0);
}

void MqttLink::on_disconnect(struct mosquitto*, void* self, int) {
  static_cast<MqttLink*>(self)->post(LinkEvent::Disconnected, 0, nullptr, 0);
}

void MqttLink::on_publish(struct mosquitto*, void* self, int mid) {
  static_cast<MqttLink*>(self)->post(LinkEvent::Published, mid, nullptr, 0);
}

void MqttLink::on_message(struct mosquitto*, void* self, const struct mosquitto_message* msg) {
  auto* link = static_cast<MqttLink*>(self);
  if (msg->topic == nullptr || link->config_.commands_topic != msg->topic) return;
  link->post(LinkEvent::Command, 0, msg->payload, static_cast<size_t>(msg->payloadlen));
}

}  // namespace agent
