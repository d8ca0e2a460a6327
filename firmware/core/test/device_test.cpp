#include <doctest/doctest.h>

#include <string>

#include "device.hpp"
#include "fakes.hpp"

using namespace vigil;

namespace {
const TelemetryField kFields[] = {{"load1", 0.1, 2}, {"mem_avail_kb", 100, 0}};

struct Rig {
  fake::Transport transport;
  fake::Hooks hooks;
  uint8_t storage[4 * 256] = {};
  PageRing ring{storage, 256, 4};
  DeviceConfig config;
  Device* device = nullptr;
  alignas(Device) unsigned char mem[sizeof(Device)];
  uint64_t now = 10000;

  explicit Rig(uint32_t heartbeat_ms = 1000, bool resend = false, uint16_t pages = 4) : ring(storage, 256, pages) {
    config.id = "dev-1";
    config.fw = "1.2.3";
    config.boot = 7;
    config.heartbeat_ms = heartbeat_ms;
    config.sample_ms = 250;
    config.fields = kFields;
    config.field_count = 2;
    config.window = 4;
    config.resend_on_reconnect = resend;
    device = new (mem) Device(config, transport, hooks, ring, now);
  }
  ~Rig() { device->~Device(); }
  Device& d() { return *device; }
  void advance(uint64_t ms, uint64_t step = 50) {
    for (uint64_t t = 0; t < ms; t += step) {
      now += step;
      d().tick(now);
    }
  }
  void ack_all(const std::string& topic) {
    for (const auto& s : transport.on(topic)) d().on_published(s.mid);
  }
};
}  // namespace

TEST_CASE("the will is the offline status with ts 0, for CONNECT") {
  Rig r;
  REQUIRE(r.d().valid());
  CHECK(std::string(r.d().will_payload(), r.d().will_len()) == R"({"state":"offline","ts":0})");
  CHECK(std::string(r.d().topics().status) == "devices/dev-1/status");
}

TEST_CASE("an invalid id makes an invalid device that never publishes") {
  fake::Transport t;
  fake::Hooks h;
  uint8_t s[128];
  PageRing ring(s, 128, 1);
  DeviceConfig c;
  c.id = "bad/id";
  Device d(c, t, h, ring, 0);
  CHECK_FALSE(d.valid());
  d.on_connected(0);
  CHECK(t.sent.empty());
}

TEST_CASE("CONNACK -> birth (retained, QoS 1), command subscription at QoS 1, then a heartbeat at once") {
  Rig r;
  r.d().on_connected(r.now);
  REQUIRE(r.transport.sent.size() >= 2);
  const auto& birth = r.transport.sent[0];
  CHECK(birth.topic == "devices/dev-1/status");
  CHECK(birth.payload == R"({"state":"online","ts":1763700000,"fw":"1.2.3","boot":7})");
  CHECK(birth.qos == 1);
  CHECK(birth.retain);
  CHECK(r.transport.subscriptions == std::vector<std::string>{"devices/dev-1/commands@1"});
  const auto& hb = r.transport.sent[1];
  CHECK(hb.topic == "devices/dev-1/heartbeat");
  CHECK(hb.payload == R"({"ts":1763700000,"uptime":0,"heap":123456,"rssi":-61,"heartbeat_interval":1})");
  CHECK(hb.qos == 0);
  CHECK_FALSE(hb.retain);
  CHECK(r.d().state() == DeviceState::Online);
}

TEST_CASE("heartbeats follow heartbeat_interval from the application loop, uptime counting") {
  Rig r(1000);
  r.d().on_connected(r.now);
  r.advance(5000);
  const auto hbs = r.transport.on("devices/dev-1/heartbeat");
  CHECK(hbs.size() == 6);  // at connect, then one per second
  CHECK(hbs.back().payload.find("\"uptime\":5,") != std::string::npos);
  CHECK(r.d().heartbeats_sent() == 6);
}

TEST_CASE("a loop that stops calling tick() stops the heartbeats; the next tick sends one at once, then on period") {
  Rig r(1000);
  r.d().on_connected(r.now);
  r.now += 7000;  // the loop was frozen for 7 s: no tick
  CHECK(r.transport.on("devices/dev-1/heartbeat").size() == 1);
  r.d().tick(r.now);
  CHECK(r.transport.on("devices/dev-1/heartbeat").size() == 2);
  r.advance(950);
  CHECK(r.transport.on("devices/dev-1/heartbeat").size() == 2);  // no burst to catch up
  r.advance(100);
  CHECK(r.transport.on("devices/dev-1/heartbeat").size() == 3);
}

TEST_CASE("no heartbeats while disconnected; telemetry is buffered instead") {
  Rig r(1000);
  r.advance(3000);
  CHECK(r.transport.sent.empty());
  CHECK(r.d().telemetry_produced() == 3);  // the first reading, then one per heartbeat period
  CHECK(r.d().ring().pending() == 3);
}

TEST_CASE("telemetry goes out on a change beyond the dead band, else at the heartbeat period") {
  Rig r(1000);
  r.d().on_connected(r.now);
  r.advance(250);
  CHECK(r.transport.on("devices/dev-1/telemetry").size() == 1);  // the first reading
  r.hooks.values[0] = 0.59;  // within the 0.1 band
  r.advance(500);
  CHECK(r.transport.on("devices/dev-1/telemetry").size() == 1);
  r.hooks.values[0] = 0.61;  // beyond it
  r.advance(250);
  auto tel = r.transport.on("devices/dev-1/telemetry");
  REQUIRE(tel.size() == 2);
  CHECK(tel[1].payload == R"({"ts":1763700000,"seq":2,"load1":0.61,"mem_avail_kb":1000,"dropped":0})");
  CHECK(tel[1].qos == 1);
  // No change: the next one comes a heartbeat period after the last.
  r.advance(700);  // up to 10800 + 900: the samples at +250, +500, +750 see no change
  CHECK(r.transport.on("devices/dev-1/telemetry").size() == 2);
  r.advance(100);
  CHECK(r.transport.on("devices/dev-1/telemetry").size() == 3);
  // A change in the second field counts as well.
  r.hooks.values[1] = 1101;
  r.advance(250);
  CHECK(r.transport.on("devices/dev-1/telemetry").size() == 4);
}

TEST_CASE("no reading, no telemetry") {
  Rig r(1000);
  r.hooks.readable = false;
  r.d().on_connected(r.now);
  r.advance(3000);
  CHECK(r.transport.on("devices/dev-1/telemetry").empty());
}

TEST_CASE("after reconnect the buffered readings drain in order at QoS 1, a window at a time, pages freed on PUBACK") {
  Rig r(1000);
  r.advance(10000);  // offline: 10 readings buffered
  REQUIRE(r.d().ring().pending() == 10);
  r.d().on_connected(r.now);
  auto tel = r.transport.on("devices/dev-1/telemetry");
  CHECK(tel.size() == 4);  // the window
  r.ack_all("devices/dev-1/telemetry");  // each PUBACK lets one more out
  r.ack_all("devices/dev-1/telemetry");
  r.ack_all("devices/dev-1/telemetry");
  tel = r.transport.on("devices/dev-1/telemetry");
  REQUIRE(tel.size() == 10);
  for (size_t i = 0; i < tel.size(); ++i) {
    CHECK(tel[i].qos == 1);
    CHECK(tel[i].payload.find("\"seq\":" + std::to_string(i + 1) + ",") != std::string::npos);
  }
  r.ack_all("devices/dev-1/telemetry");
  CHECK(r.d().ring().pending() == 0);
}

TEST_CASE("a long outage overflows the ring: oldest dropped first, the counter says how many") {
  Rig r(1000, false, 2);  // 2 pages of 256 bytes: 3 readings each
  r.advance(20000);
  const uint32_t produced = r.d().telemetry_produced();
  const uint32_t dropped = r.d().ring().dropped();
  CHECK(produced == 20);
  CHECK(dropped > 0);
  r.d().on_connected(r.now);
  for (int i = 0; i < 10; ++i) r.ack_all("devices/dev-1/telemetry");
  const auto tel = r.transport.on("devices/dev-1/telemetry");
  CHECK(tel.size() + dropped == produced);
  // What arrives is the newest readings, in order, with no gap among them.
  const std::string first = "\"seq\":" + std::to_string(dropped + 1) + ",";
  CHECK(tel.front().payload.find(first) != std::string::npos);
  r.advance(1000);
  const auto later = r.transport.on("devices/dev-1/telemetry");
  CHECK(later.back().payload.find("\"dropped\":" + std::to_string(dropped) + "}") != std::string::npos);
}

TEST_CASE("in-flight telemetry is left to a stack that re-sends it; re-sent from the ring for one that does not") {
  SUBCASE("stack keeps its in-flight messages") {
    Rig r(1000, false);
    r.advance(3000);
    r.d().on_connected(r.now);
    CHECK(r.transport.on("devices/dev-1/telemetry").size() == 3);
    r.d().on_disconnected(r.now);
    r.transport.clear();
    r.d().on_connected(r.now);
    CHECK(r.transport.on("devices/dev-1/telemetry").empty());  // the stack re-sends them, not us
    for (int mid = 1; mid < 10; ++mid) r.d().on_published(mid);
    CHECK(r.d().ring().pending() == 0);
  }
  SUBCASE("stack forgets them") {
    Rig r(1000, true);
    r.advance(3000);
    r.d().on_connected(r.now);
    r.d().on_disconnected(r.now);
    r.transport.clear();
    r.d().on_connected(r.now);
    const auto again = r.transport.on("devices/dev-1/telemetry");
    REQUIRE(again.size() == 3);
    CHECK(again[0].payload.find("\"seq\":1,") != std::string::npos);
  }
}

TEST_CASE("a transport that refuses a message keeps it in the ring for later") {
  Rig r(1000);
  r.advance(2000);
  r.transport.accept = false;
  r.d().on_connected(r.now);
  CHECK(r.d().ring().pending() == 2);
  r.transport.accept = true;
  r.advance(50);
  CHECK(r.d().telemetry_produced() >= 2);
  CHECK(r.transport.on("devices/dev-1/telemetry").size() == r.d().telemetry_produced());
}

TEST_CASE("echo acks with its args as the result") {
  Rig r;
  r.d().on_connected(r.now);
  const std::string cmd = R"({"id":"c-1","command":"echo","args":{"hello":[1,"two",null]},"ts":1})";
  r.d().on_command(cmd.data(), cmd.size(), r.now);
  const auto acks = r.transport.on("devices/dev-1/commands/ack");
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].payload == R"({"id":"c-1","status":"ok","result":{"hello":[1,"two",null]}})");
  CHECK(acks[0].qos == 1);
  const std::string none = R"({"id":"c-2","command":"echo"})";
  r.d().on_command(none.data(), none.size(), r.now);
  CHECK(r.transport.on("devices/dev-1/commands/ack")[1].payload == R"({"id":"c-2","status":"ok","result":null})");
}

TEST_CASE("a repeated command id is acked again with the same answer and not executed twice") {
  Rig r;
  r.d().on_connected(r.now);
  const std::string cmd = R"({"id":"c-9","command":"blink","args":{}})";
  r.d().on_command(cmd.data(), cmd.size(), r.now);
  r.d().on_command(cmd.data(), cmd.size(), r.now);
  const auto acks = r.transport.on("devices/dev-1/commands/ack");
  REQUIRE(acks.size() == 2);
  CHECK(acks[0].payload == acks[1].payload);
  CHECK(acks[0].payload == R"({"id":"c-9","status":"ok","result":{"blinked":true}})");
  CHECK(r.hooks.executed_other == 1);
  CHECK(r.d().commands_executed() == 1);
}

TEST_CASE("restart: acked with the boot counter, recorded and saved first, due once the ack is acknowledged") {
  Rig r;
  r.d().on_connected(r.now);
  const std::string cmd = R"({"id":"r-1","command":"restart","args":{}})";
  r.d().on_command(cmd.data(), cmd.size(), r.now);
  const auto acks = r.transport.on("devices/dev-1/commands/ack");
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].payload == R"({"id":"r-1","status":"ok","result":{"boot":7}})");
  CHECK(r.hooks.saves == 1);
  CHECK_FALSE(r.d().restart_due(r.now));
  r.d().on_published(acks[0].mid);
  CHECK(r.d().restart_due(r.now));

  SUBCASE("after the reboot the same id is acked again without a second restart") {
    fake::Transport t2;
    fake::Hooks h2;
    uint8_t s2[256];
    PageRing ring2(s2, 128, 2);
    DeviceConfig c2 = r.config;
    c2.boot = 8;
    Device d2(c2, t2, h2, ring2, 0);
    REQUIRE(d2.restore_commands(r.hooks.saved.data(), r.hooks.saved.size()));
    d2.on_connected(0);
    d2.on_command(cmd.data(), cmd.size(), 0);
    const auto again = t2.on("devices/dev-1/commands/ack");
    REQUIRE(again.size() == 1);
    CHECK(again[0].payload == R"({"id":"r-1","status":"ok","result":{"boot":7}})");
    CHECK_FALSE(d2.restart_due(100000));
    CHECK(d2.commands_executed() == 0);
  }
}

TEST_CASE("restart goes ahead when its ack is never acknowledged, after ack_wait_ms") {
  Rig r;
  r.d().on_connected(r.now);
  const std::string cmd = R"({"id":"r-2","command":"restart"})";
  r.d().on_command(cmd.data(), cmd.size(), r.now);
  CHECK_FALSE(r.d().restart_due(r.now + 2999));
  CHECK(r.d().restart_due(r.now + 3000));
}

TEST_CASE("unknown, nameless, unparsable and id-less commands") {
  Rig r;
  r.d().on_connected(r.now);
  const std::string unknown = R"({"id":"u-1","command":"selfdestruct"})";
  r.d().on_command(unknown.data(), unknown.size(), r.now);
  const std::string nameless = R"({"id":"u-2"})";
  r.d().on_command(nameless.data(), nameless.size(), r.now);
  const std::string broken = R"({"id":"u-3","command":)";
  r.d().on_command(broken.data(), broken.size(), r.now);
  const std::string noid = R"({"command":"echo"})";
  r.d().on_command(noid.data(), noid.size(), r.now);
  const auto acks = r.transport.on("devices/dev-1/commands/ack");
  REQUIRE(acks.size() == 2);
  CHECK(acks[0].payload == R"({"id":"u-1","status":"error","result":"unknown_command"})");
  CHECK(acks[1].payload == R"({"id":"u-2","status":"error","result":"bad_command"})");
}

TEST_CASE("an echo whose result is too large to remember is an error, not a truncated answer") {
  Rig r;
  r.d().on_connected(r.now);
  const std::string big = R"({"id":"b-1","command":"echo","args":")" + std::string(300, 'x') + R"("})";
  r.d().on_command(big.data(), big.size(), r.now);
  const auto acks = r.transport.on("devices/dev-1/commands/ack");
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].payload == R"({"id":"b-1","status":"error","result":"result_too_large"})");
}

TEST_CASE("commands are ignored while not connected") {
  Rig r;
  const std::string cmd = R"({"id":"c-1","command":"echo"})";
  r.d().on_command(cmd.data(), cmd.size(), r.now);
  CHECK(r.transport.sent.empty());
}

TEST_CASE("graceful stop: the offline status, retained, QoS 1; done on its PUBACK or after ack_wait_ms; nothing after") {
  Rig r;
  r.d().on_connected(r.now);
  r.transport.clear();
  r.d().stop(r.now);
  REQUIRE(r.transport.sent.size() == 1);
  const auto& s = r.transport.sent[0];
  CHECK(s.topic == "devices/dev-1/status");
  CHECK(s.payload == R"({"state":"offline","reason":"graceful"})");
  CHECK(s.qos == 1);
  CHECK(s.retain);
  CHECK_FALSE(r.d().stop_done(r.now));
  CHECK(r.d().stop_done(r.now + 3000));
  r.d().on_published(s.mid);
  CHECK(r.d().stop_done(r.now));
  r.advance(5000);
  CHECK(r.transport.sent.size() == 1);  // no heartbeat or telemetry after stop
  r.d().stop(r.now);
  CHECK(r.transport.sent.size() == 1);
}

TEST_CASE("stop while disconnected is done at once") {
  Rig r;
  r.d().stop(r.now);
  CHECK(r.d().stop_done(r.now));
  CHECK(r.transport.sent.empty());
}

TEST_CASE("next_deadline is the earlier of the next sample and, online, the next heartbeat") {
  Rig r(1000);
  CHECK(r.d().next_deadline(r.now) == r.now);
  r.d().tick(r.now);
  CHECK(r.d().next_deadline(r.now) == r.now + 250);
  r.d().on_connected(r.now);
  r.now += 250;
  r.d().tick(r.now);
  CHECK(r.d().next_deadline(r.now) == r.now + 250);
  CHECK(r.d().next_deadline(r.now + 10000) == r.now + 10000);
}

TEST_CASE("disconnect stops heartbeats; each reconnect sends a fresh birth (same boot), subscribes again, heartbeats at once") {
  Rig r(1000);
  r.d().on_connected(r.now);
  r.advance(1000);
  r.d().on_disconnected(r.now);
  CHECK(r.d().state() == DeviceState::Disconnected);
  r.transport.clear();
  r.advance(3000);
  CHECK(r.transport.on("devices/dev-1/heartbeat").empty());
  r.d().on_connected(r.now);
  const auto status = r.transport.on("devices/dev-1/status");
  REQUIRE(status.size() == 1);
  CHECK(status[0].payload == R"({"state":"online","ts":1763700000,"fw":"1.2.3","boot":7})");
  CHECK(r.transport.subscriptions.size() == 2);
  CHECK(r.transport.on("devices/dev-1/heartbeat").size() == 1);
  CHECK(r.transport.sent[0].topic == "devices/dev-1/status");  // birth before anything else
}

TEST_CASE("the birth carries ts 0 while the device clock is not set") {
  Rig r;
  r.hooks.clock = 0;
  r.d().on_connected(r.now);
  CHECK(r.transport.sent[0].payload == R"({"state":"online","ts":0,"fw":"1.2.3","boot":7})");
}

TEST_CASE("once stopping, a reconnect publishes no birth and commands are ignored") {
  Rig r;
  r.d().stop(r.now);
  r.d().on_connected(r.now);
  const std::string cmd = R"({"id":"c-1","command":"echo"})";
  r.d().on_command(cmd.data(), cmd.size(), r.now);
  CHECK(r.transport.sent.empty());
  CHECK(r.d().state() == DeviceState::Stopping);
}

TEST_CASE("a fractional heartbeat interval is announced as such") {
  Rig r(500);
  r.d().on_connected(r.now);
  CHECK(r.transport.on("devices/dev-1/heartbeat")[0].payload.find("\"heartbeat_interval\":0.5}") != std::string::npos);
  r.advance(2000);
  CHECK(r.transport.on("devices/dev-1/heartbeat").size() == 5);
}
