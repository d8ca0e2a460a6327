#pragma once
#include <cstdint>
enum wifi_mode_t { WIFI_STA };
struct WiFiClass {
  bool mode(wifi_mode_t);
  bool setAutoReconnect(bool);
  int begin(const char* ssid, const char* passphrase);
  int8_t RSSI();
};
extern WiFiClass WiFi;
