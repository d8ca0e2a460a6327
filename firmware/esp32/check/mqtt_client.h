#pragma once
#include <cstdint>
typedef int esp_err_t;
typedef const char* esp_event_base_t;
typedef struct esp_mqtt_client* esp_mqtt_client_handle_t;
typedef enum {
  MQTT_EVENT_ANY = -1, MQTT_EVENT_ERROR = 0, MQTT_EVENT_CONNECTED, MQTT_EVENT_DISCONNECTED, MQTT_EVENT_SUBSCRIBED,
  MQTT_EVENT_UNSUBSCRIBED, MQTT_EVENT_PUBLISHED, MQTT_EVENT_DATA, MQTT_EVENT_BEFORE_CONNECT, MQTT_EVENT_DELETED,
} esp_mqtt_event_id_t;
typedef struct esp_mqtt_event_t {
  esp_mqtt_event_id_t event_id;
  esp_mqtt_client_handle_t client;
  void* user_context;
  char* data;
  int data_len;
  int total_data_len;
  int current_data_offset;
  char* topic;
  int topic_len;
  int msg_id;
} esp_mqtt_event_t;
typedef esp_mqtt_event_t* esp_mqtt_event_handle_t;
typedef struct {
  const char* uri;
  const char* client_id;
  const char* username;
  const char* password;
  const char* lwt_topic;
  const char* lwt_msg;
  int lwt_qos;
  int lwt_retain;
  int lwt_msg_len;
  int keepalive;
  bool disable_auto_reconnect;
  const char* cert_pem;
} esp_mqtt_client_config_t;
typedef void (*esp_event_handler_t)(void* arg, esp_event_base_t base, int32_t id, void* data);
esp_mqtt_client_handle_t esp_mqtt_client_init(const esp_mqtt_client_config_t* config);
esp_err_t esp_mqtt_client_register_event(esp_mqtt_client_handle_t c, esp_mqtt_event_id_t e, esp_event_handler_t h, void* arg);
esp_err_t esp_mqtt_client_start(esp_mqtt_client_handle_t c);
esp_err_t esp_mqtt_client_reconnect(esp_mqtt_client_handle_t c);
esp_err_t esp_mqtt_client_disconnect(esp_mqtt_client_handle_t c);
int esp_mqtt_client_subscribe(esp_mqtt_client_handle_t c, const char* topic, int qos);
int esp_mqtt_client_enqueue(esp_mqtt_client_handle_t c, const char* topic, const char* data, int len, int qos, int retain, bool store);
