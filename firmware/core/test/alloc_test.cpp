// "No heap allocation in steady state": every device path runs with the
// global allocator counted, and the count must stay at zero.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "device.hpp"

namespace {
std::atomic<long> g_allocs{0};
std::atomic<bool> g_counting{false};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load()) g_allocs.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {
struct NullTransport final : vigil::Transport {
  int mid = 0;
  bool publish(const char*, const char*, size_t, int, bool, int* msg_id) override {
    if (msg_id != nullptr) *msg_id = ++mid;
    return true;
  }
  bool subscribe(const char*, int) override { return true; }
};
struct NullHooks final : vigil::Hooks {
  double v = 0;
  int64_t unix_time() override { return 1; }
  bool read_telemetry(double* out) override {
    v += 1;
    out[0] = v;
    return true;
  }
  int64_t free_heap() override { return 1; }
  int64_t rssi() override { return 0; }
  void save_commands(const uint8_t*, size_t) override {}
};
}  // namespace

TEST_CASE("the device allocates nothing: connect, heartbeats, telemetry, overflow, drain, commands, stop") {
  static const vigil::TelemetryField fields[] = {{"v", 0.5, 1}};
  NullTransport t;
  NullHooks h;
  static uint8_t storage[2 * 128];
  vigil::PageRing ring(storage, 128, 2);
  vigil::DeviceConfig c;
  c.id = "alloc";
  c.heartbeat_ms = 100;
  c.sample_ms = 10;
  c.fields = fields;
  c.field_count = 1;
  g_allocs = 0;
  g_counting = true;
  {
    vigil::Device d(c, t, h, ring, 0);
    uint64_t now = 0;
    for (int i = 0; i < 200; ++i) d.tick(now += 10);  // offline: buffer and overflow
    d.on_connected(now);
    for (int i = 0; i < 200; ++i) {
      d.tick(now += 10);
      d.on_published(t.mid);
    }
    static const char cmd[] = R"({"id":"x","command":"echo","args":[1,2,3]})";
    d.on_command(cmd, sizeof cmd - 1, now);
    d.on_command(cmd, sizeof cmd - 1, now);
    static const char rst[] = R"({"id":"y","command":"restart"})";
    d.on_command(rst, sizeof rst - 1, now);
    d.on_disconnected(now);
    d.on_connected(now);
    d.stop(now);
  }
  g_counting = false;
  CHECK(g_allocs.load() == 0);
}
