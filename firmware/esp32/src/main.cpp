// Vigil firmware for ESP32: a thin binding of firmware/core to WiFi, esp-mqtt,
// NVS and the task watchdog. All protocol decisions live in the core; this
// file only moves events between esp-mqtt's task and the Arduino loop task.
//
// Why esp-mqtt (bundled with the Arduino core) and not PubSubClient:
// esp-mqtt runs in its own FreeRTOS task, so keep-alive PINGREQs continue when
// loop() hangs -- the real-world "silent" device this firmware must expose by
// sending heartbeats from loop() -- and the watchdog then reboots it.
// PubSubClient is polled from loop(), so a frozen loop would stop its pings
// too, and it cannot publish at QoS 1, which the offline buffer's drain and
// the command acks need. esp-mqtt also keeps unacknowledged QoS 1 messages in
// its outbox and re-sends them after reconnecting (resend_on_reconnect=false).
#include <Arduino.h>
#include <Preferences.h>
#include <WiFi.h>
#include <esp_task_wdt.h>
#include <esp_timer.h>
#include <mqtt_client.h>
#include <time.h>

#include "device.hpp"

namespace {

// 64-bit monotonic milliseconds (millis() wraps after 49 days).
uint64_t now_ms() { return static_cast<uint64_t>(esp_timer_get_time() / 1000); }

constexpr uint32_t kHeartbeatMs = VIGIL_HEARTBEAT_S * 1000u;

const vigil::TelemetryField kFields[] = {
    {"temp_c", 0.5, 1},     // internal sensor, degrees C
    {"heap", 4096, 0},      // free heap, bytes
    {"rssi", 3, 0},         // WiFi signal, dBm
};

// Events from esp-mqtt's task to loop(), copied through FreeRTOS queues.
struct SmallEvent {
  enum Kind : uint8_t { Connected, Disconnected, Published } kind;
  int mid;
};
struct CommandEvent {
  uint16_t len;
  char payload[1024];
};
QueueHandle_t g_events;
QueueHandle_t g_commands;
esp_mqtt_client_handle_t g_mqtt;
Preferences g_prefs;
char g_id[vigil::kMaxDeviceId + 1];
char g_commands_topic[vigil::kTopicCap];

class EspTransport final : public vigil::Transport {
 public:
  bool publish(const char* topic, const char* payload, size_t len, int qos, bool retain, int* msg_id) override {
    // enqueue: never blocks loop(); esp-mqtt's task sends it (store=true keeps
    // QoS 1 in the outbox across a reconnect).
    const int id = esp_mqtt_client_enqueue(g_mqtt, topic, payload, static_cast<int>(len), qos, retain ? 1 : 0, true);
    if (msg_id != nullptr) *msg_id = id;
    return id >= 0;
  }
  bool subscribe(const char* topic, int qos) override { return esp_mqtt_client_subscribe(g_mqtt, topic, qos) >= 0; }
};

class EspHooks final : public vigil::Hooks {
 public:
  int64_t unix_time() override {
    const time_t now = time(nullptr);
    return now > 1600000000 ? static_cast<int64_t>(now) : 0;  // 0 until SNTP set the clock
  }
  bool read_telemetry(double* values) override {
    values[0] = temperatureRead();
    values[1] = static_cast<double>(ESP.getFreeHeap());
    values[2] = static_cast<double>(WiFi.RSSI());
    return true;
  }
  int64_t free_heap() override { return static_cast<int64_t>(ESP.getFreeHeap()); }
  int64_t rssi() override { return WiFi.RSSI(); }
  void save_commands(const uint8_t* image, size_t len) override { g_prefs.putBytes("cmds", image, len); }
};

EspTransport g_transport;
EspHooks g_hooks;
// The offline buffer: 16 pages of 512 bytes, in RAM.
uint8_t g_pages[16 * 512];
vigil::PageRing g_ring(g_pages, 512, 16);
vigil::Device* g_device = nullptr;
vigil::Backoff g_backoff(vigil::BackoffConfig{1000, 60000, 0.5f, false});
uint64_t g_reconnect_at = 0;
bool g_want_reconnect = false;

void on_mqtt_event(void*, esp_event_base_t, int32_t id, void* data) {
  auto* e = static_cast<esp_mqtt_event_handle_t>(data);
  SmallEvent small{};
  switch (static_cast<esp_mqtt_event_id_t>(id)) {
    case MQTT_EVENT_CONNECTED: small.kind = SmallEvent::Connected; break;
    case MQTT_EVENT_DISCONNECTED: small.kind = SmallEvent::Disconnected; break;
    case MQTT_EVENT_PUBLISHED: small.kind = SmallEvent::Published; small.mid = e->msg_id; break;
    case MQTT_EVENT_DATA: {
      // Whole, unfragmented messages on the command topic only.
      if (e->current_data_offset != 0 || e->data_len != e->total_data_len) return;
      if (e->topic_len != static_cast<int>(strlen(g_commands_topic)) || memcmp(e->topic, g_commands_topic, e->topic_len) != 0) return;
      static CommandEvent cmd;  // esp-mqtt's task only
      if (e->data_len > static_cast<int>(sizeof cmd.payload)) return;
      cmd.len = static_cast<uint16_t>(e->data_len);
      memcpy(cmd.payload, e->data, e->data_len);
      xQueueSend(g_commands, &cmd, 0);  // full: dropped; the broker re-sends the same id
      return;
    }
    default: return;
  }
  xQueueSend(g_events, &small, 0);
}

}  // namespace

void setup() {
  Serial.begin(115200);
  g_prefs.begin("vigil", false);
  const uint32_t boot = g_prefs.getUInt("boot", 0) + 1;
  g_prefs.putUInt("boot", boot);

  if (strlen(VIGIL_DEVICE_ID) > 0) {
    strncpy(g_id, VIGIL_DEVICE_ID, sizeof g_id - 1);
  } else {
    snprintf(g_id, sizeof g_id, "esp32-%012llx", static_cast<unsigned long long>(ESP.getEfuseMac()));
  }

  g_events = xQueueCreate(32, sizeof(SmallEvent));
  g_commands = xQueueCreate(4, sizeof(CommandEvent));

  static vigil::DeviceConfig config;
  config.id = g_id;
  config.fw = "0.1.0";
  config.boot = boot;
  config.heartbeat_ms = kHeartbeatMs;
  config.sample_ms = 1000;
  config.fields = kFields;
  config.field_count = sizeof kFields / sizeof kFields[0];
  config.window = 4;
  config.resend_on_reconnect = false;
  static vigil::Device device(config, g_transport, g_hooks, g_ring, now_ms());
  g_device = &device;
  static uint8_t image[vigil::CommandWindow::kImageSize];
  const size_t n = g_prefs.getBytes("cmds", image, sizeof image);
  if (n > 0) device.restore_commands(image, n);
  strncpy(g_commands_topic, device.topics().commands, sizeof g_commands_topic - 1);

  WiFi.mode(WIFI_STA);
  WiFi.setAutoReconnect(true);
  WiFi.begin(VIGIL_WIFI_SSID, VIGIL_WIFI_PASSWORD);
  configTime(0, 0, "pool.ntp.org");

  esp_mqtt_client_config_t mqtt = {};
  mqtt.uri = VIGIL_MQTT_URI;
  mqtt.client_id = g_id;
  mqtt.keepalive = 60;
  mqtt.lwt_topic = device.topics().status;
  mqtt.lwt_msg = device.will_payload();
  mqtt.lwt_msg_len = static_cast<int>(device.will_len());
  mqtt.lwt_qos = 1;
  mqtt.lwt_retain = 1;
  // Reconnects follow the core's jittered exponential backoff instead of a
  // fixed timer, so a fleet does not return in lock-step after an outage.
  mqtt.disable_auto_reconnect = true;
  g_mqtt = esp_mqtt_client_init(&mqtt);
  esp_mqtt_client_register_event(g_mqtt, MQTT_EVENT_ANY, on_mqtt_event, nullptr);
  esp_mqtt_client_start(g_mqtt);

  // The loop task under the task watchdog: a loop frozen VIGIL_WDT_S reboots
  // (the broker sees it silent first, then a birth with boot + 1).
  esp_task_wdt_init(VIGIL_WDT_S, true);
  esp_task_wdt_add(nullptr);
}

void loop() {
  esp_task_wdt_reset();
  vigil::Device& device = *g_device;
  const uint64_t now = now_ms();
  SmallEvent e;
  while (xQueueReceive(g_events, &e, 0) == pdTRUE) {
    switch (e.kind) {
      case SmallEvent::Connected:
        g_backoff.reset();
        g_want_reconnect = false;
        device.on_connected(now_ms());
        break;
      case SmallEvent::Disconnected:
        device.on_disconnected(now_ms());
        g_want_reconnect = true;
        g_reconnect_at = now_ms() + g_backoff.next(esp_random());
        break;
      case SmallEvent::Published: device.on_published(e.mid); break;
    }
  }
  static CommandEvent cmd;
  while (xQueueReceive(g_commands, &cmd, 0) == pdTRUE) device.on_command(cmd.payload, cmd.len, now_ms());
  if (g_want_reconnect && now >= g_reconnect_at) {
    g_want_reconnect = false;
    esp_mqtt_client_reconnect(g_mqtt);
    // A failed attempt reports MQTT_EVENT_DISCONNECTED again: the next delay.
  }
  if (device.restart_due(now_ms())) {
    esp_mqtt_client_disconnect(g_mqtt);
    delay(200);
    ESP.restart();
  }
  device.tick(now_ms());
  delay(20);
}
