#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "protocol.hpp"

using namespace vigil;

TEST_CASE("topics follow devices/{id}/...; ids that cannot be a topic level are refused") {
  Topics t;
  REQUIRE(make_topics("gw-1", &t));
  CHECK(std::string(t.status) == "devices/gw-1/status");
  CHECK(std::string(t.heartbeat) == "devices/gw-1/heartbeat");
  CHECK(std::string(t.telemetry) == "devices/gw-1/telemetry");
  CHECK(std::string(t.commands) == "devices/gw-1/commands");
  CHECK(std::string(t.ack) == "devices/gw-1/commands/ack");
  CHECK_FALSE(make_topics("", &t));
  CHECK_FALSE(make_topics("a/b", &t));
  CHECK_FALSE(make_topics("a+", &t));
  CHECK_FALSE(make_topics("#", &t));
  CHECK_FALSE(make_topics(std::string(kMaxDeviceId + 1, 'x').c_str(), &t));
  CHECK(make_topics(std::string(kMaxDeviceId, 'x').c_str(), &t));
}

TEST_CASE("will, birth, graceful and heartbeat payloads, byte for byte") {
  char buf[256];
  REQUIRE(encode_will(buf, sizeof buf) > 0);
  CHECK(std::string(buf) == R"({"state":"offline","ts":0})");
  REQUIRE(encode_birth(buf, sizeof buf, 1763700000, "1.2.3", 7) > 0);
  CHECK(std::string(buf) == R"({"state":"online","ts":1763700000,"fw":"1.2.3","boot":7})");
  REQUIRE(encode_birth(buf, sizeof buf, 0, "1.2.3", 1) > 0);
  CHECK(std::string(buf) == R"({"state":"online","ts":0,"fw":"1.2.3","boot":1})");
  REQUIRE(encode_graceful(buf, sizeof buf) > 0);
  CHECK(std::string(buf) == R"({"state":"offline","reason":"graceful"})");
  REQUIRE(encode_heartbeat(buf, sizeof buf, Heartbeat{1763700000, 42, 100000, -60, 30}) > 0);
  CHECK(std::string(buf) == R"({"ts":1763700000,"uptime":42,"heap":100000,"rssi":-60,"heartbeat_interval":30})");
  REQUIRE(encode_heartbeat(buf, sizeof buf, Heartbeat{5, 0, 1, 0, 0.5}) > 0);
  CHECK(std::string(buf) == R"({"ts":5,"uptime":0,"heap":1,"rssi":0,"heartbeat_interval":0.5})");
}

TEST_CASE("acks carry the id, the status and the result verbatim") {
  char buf[256];
  REQUIRE(encode_ack(buf, sizeof buf, "c-1", true, "{\"a\":[1,2]}", 11) > 0);
  CHECK(std::string(buf) == R"({"id":"c-1","status":"ok","result":{"a":[1,2]}})");
  REQUIRE(encode_ack(buf, sizeof buf, "c-2", false, nullptr, 0) > 0);
  CHECK(std::string(buf) == R"({"id":"c-2","status":"error","result":null})");
  char small[20];
  CHECK(encode_ack(small, sizeof small, "c-1", true, "{\"a\":[1,2]}", 11) == 0);
}

TEST_CASE("telemetry lists its fields in order between ts/seq and the dropped counter") {
  const TelemetryField fields[] = {{"load1", 0.1, 2}, {"mem_avail_kb", 1024, 0}};
  const double values[] = {0.456, 812345.4};
  char buf[256];
  REQUIRE(encode_telemetry(buf, sizeof buf, 100, 3, fields, values, 2, 9) > 0);
  CHECK(std::string(buf) == R"({"ts":100,"seq":3,"load1":0.46,"mem_avail_kb":812345,"dropped":9})");
}

TEST_CASE("commands are parsed with a bounded parser; what cannot be acked is reported as such") {
  Command c;
  const char* ok = R"({"id":"c-1","command":"echo","args":{"x":[1,"y"]},"ts":1763700000123})";
  REQUIRE(parse_command(ok, std::strlen(ok), &c) == ParseResult::Ok);
  CHECK(std::string(c.id) == "c-1");
  CHECK(std::string(c.name) == "echo");
  CHECK(std::string(c.args.ptr, c.args.len) == R"({"x":[1,"y"]})");
  const char* noargs = R"({"id":"c-2","command":"restart"})";
  REQUIRE(parse_command(noargs, std::strlen(noargs), &c) == ParseResult::Ok);
  CHECK(c.args.type == JsonType::Null);
  CHECK(parse_command("{", 1, &c) == ParseResult::Invalid);
  const char* noid = R"({"command":"echo"})";
  CHECK(parse_command(noid, std::strlen(noid), &c) == ParseResult::NoId);
  const char* numid = R"({"id":5,"command":"echo"})";
  CHECK(parse_command(numid, std::strlen(numid), &c) == ParseResult::NoId);
  const std::string longid = R"({"id":")" + std::string(kMaxCommandId + 1, 'x') + R"(","command":"echo"})";
  CHECK(parse_command(longid.data(), longid.size(), &c) == ParseResult::NoId);
  const char* noname = R"({"id":"c-3","command":7})";
  CHECK(parse_command(noname, std::strlen(noname), &c) == ParseResult::BadName);
  CHECK(std::string(c.id) == "c-3");
}
