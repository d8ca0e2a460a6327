#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "json_reader.hpp"
#include "json_writer.hpp"

using namespace vigil;

static std::string slice(const JsonSlice& s) { return std::string(s.ptr, s.len); }

TEST_CASE("the writer encodes objects byte for byte, commas and nesting included") {
  char buf[128];
  JsonWriter w(buf, sizeof buf);
  w.begin_object().key("a").integer(1).key("b").begin_object().key("c").boolean(true).key("d").null().end_object()
      .key("e").string("x").end_object();
  REQUIRE(w.finish() > 0);
  CHECK(std::string(buf) == R"({"a":1,"b":{"c":true,"d":null},"e":"x"})");
}

TEST_CASE("strings are escaped as JSON.stringify does") {
  char buf[128];
  JsonWriter w(buf, sizeof buf);
  w.begin_object().key("s").string("q\"b\\n\n\t\x01/\xc3\xa9").end_object();
  REQUIRE(w.finish() > 0);
  CHECK(std::string(buf) == "{\"s\":\"q\\\"b\\\\n\\n\\t\\u0001/\xc3\xa9\"}");
}

TEST_CASE("numbers print like JavaScript for short decimals") {
  char buf[128];
  JsonWriter w(buf, sizeof buf);
  w.begin_object()
      .key("a").number(0.5, 3).key("b").number(30.0, 3).key("c").number(1.25, 3).key("d").number(-0.0001, 3)
      .key("e").number(0.52, 2).key("f").number(1.0 / 0.0, 2).key("g").integer(-42).end_object();
  REQUIRE(w.finish() > 0);
  CHECK(std::string(buf) == R"({"a":0.5,"b":30,"c":1.25,"d":0,"e":0.52,"f":null,"g":-42})");
}

TEST_CASE("a payload that does not fit is refused, never truncated") {
  char buf[16];
  JsonWriter w(buf, sizeof buf);
  w.begin_object().key("long").string("0123456789").end_object();
  CHECK_FALSE(w.ok());
  CHECK(w.finish() == 0);
  char exact[8];  // {"a":1} is 7 bytes + NUL
  JsonWriter e(exact, sizeof exact);
  e.begin_object().key("a").integer(1).end_object();
  CHECK(e.finish() == 7);
  CHECK(std::string(exact) == R"({"a":1})");
}

TEST_CASE("unbalanced writes are refused") {
  char buf[32];
  JsonWriter w(buf, sizeof buf);
  w.begin_object().key("a");
  CHECK(w.finish() == 0);
  JsonWriter v(buf, sizeof buf);
  v.end_object();
  CHECK_FALSE(v.ok());
}

TEST_CASE("the reader validates whole documents") {
  const char* good[] = {"{}", " {\"a\" : [1, -2.5e3, true, false, null, \"\\u00e9\"]} ", "[]", "0", "\"x\"", "-0.0"};
  for (const char* g : good) CHECK_MESSAGE(json_valid(g, std::strlen(g)), g);
  const char* bad[] = {"", "{", "{\"a\":}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "tru", "{\"a\":1} x", "\"\x01\"",
                       "\"\\x\"", "\"\\u12\"", "{a:1}", "{\"a\" 1}", "nul", "1e", "[", "\"abc"};
  for (const char* b : bad) CHECK_MESSAGE(!json_valid(b, std::strlen(b)), b);
}

TEST_CASE("nesting is bounded: deeper than the limit is invalid, not a stack overflow") {
  std::string ok(kMaxJsonDepth, '[');
  ok += std::string(kMaxJsonDepth, ']');
  CHECK(json_valid(ok.data(), ok.size()));
  std::string deep(kMaxJsonDepth + 1, '[');
  deep += std::string(kMaxJsonDepth + 1, ']');
  CHECK_FALSE(json_valid(deep.data(), deep.size()));
  std::string huge(100000, '[');
  CHECK_FALSE(json_valid(huge.data(), huge.size()));
}

TEST_CASE("members are found at the top level only; the last repeat wins") {
  const char* doc = R"({"args":{"id":"inner"},"id":"first","x":[1,{"id":2}],"id":"last"})";
  JsonSlice s;
  REQUIRE(json_member(doc, std::strlen(doc), "id", &s));
  CHECK(s.type == JsonType::String);
  CHECK(slice(s) == "\"last\"");
  REQUIRE(json_member(doc, std::strlen(doc), "args", &s));
  CHECK(s.type == JsonType::Object);
  CHECK(slice(s) == R"({"id":"inner"})");
  CHECK_FALSE(json_member(doc, std::strlen(doc), "missing", &s));
  CHECK_FALSE(json_member("[1]", 3, "id", &s));
  CHECK_FALSE(json_member("{\"id\":1", 7, "id", &s));
}

TEST_CASE("strings unescape into the caller's buffer, UTF-8 and surrogate pairs included") {
  const char* doc = R"({"s":"a\"b\\\/\n\u00e9\ud83d\ude00"})";
  JsonSlice s;
  REQUIRE(json_member(doc, std::strlen(doc), "s", &s));
  char out[32];
  size_t n = 0;
  REQUIRE(json_string(s, out, sizeof out, &n));
  CHECK(std::string(out, n) == "a\"b\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  char tiny[4];
  CHECK_FALSE(json_string(s, tiny, sizeof tiny));
  const char* lone = R"({"s":"\ud83d"})";
  REQUIRE(json_member(lone, std::strlen(lone), "s", &s));
  CHECK_FALSE(json_string(s, out, sizeof out));
  const char* nul = R"({"s":"a\u0000b"})";
  REQUIRE(json_member(nul, std::strlen(nul), "s", &s));
  CHECK_FALSE(json_string(s, out, sizeof out));
  double d = 0;
  const char* num = R"({"n":-12.5e1})";
  REQUIRE(json_member(num, std::strlen(num), "n", &s));
  REQUIRE(json_number(s, &d));
  CHECK(d == -125.0);
}
