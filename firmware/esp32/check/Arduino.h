// Compile-check stand-ins for the Arduino-ESP32 2.0.x / ESP-IDF 4.4 APIs that
// esp32/src/main.cpp uses: declarations only, with the signatures of those
// releases, so `make -C firmware` catches mistakes in the ESP32 layer's own
// code on a machine without the ESP32 toolchain. Not a simulator.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cstdio>
struct SerialStub { void begin(unsigned long); };
extern SerialStub Serial;
void delay(uint32_t ms);
float temperatureRead();
struct EspClass {
  uint32_t getFreeHeap();
  uint64_t getEfuseMac();
  [[noreturn]] void restart();
};
extern EspClass ESP;
extern "C" uint32_t esp_random(void);
void configTime(long gmtOffset_sec, int daylightOffset_sec, const char* server1);
typedef void* QueueHandle_t;
typedef int BaseType_t;
constexpr BaseType_t pdTRUE = 1;
QueueHandle_t xQueueCreate(uint32_t length, uint32_t item_size);
BaseType_t xQueueSend(QueueHandle_t q, const void* item, uint32_t ticks);
BaseType_t xQueueReceive(QueueHandle_t q, void* item, uint32_t ticks);
