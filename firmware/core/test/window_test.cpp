#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "command_window.hpp"

using namespace vigil;

TEST_CASE("a recorded id is found with its status and result") {
  CommandWindow w;
  CHECK(w.find("a") == nullptr);
  REQUIRE(w.record("a", true, "{\"x\":1}", 7));
  const auto* e = w.find("a");
  REQUIRE(e != nullptr);
  CHECK(e->ok == 1);
  CHECK(std::string(e->result, e->result_len) == "{\"x\":1}");
}

TEST_CASE("the window keeps the last 16 ids; the oldest is forgotten first") {
  CommandWindow w;
  for (int i = 0; i < 20; ++i) w.record(("id-" + std::to_string(i)).c_str(), i % 2 == 0, "null", 4);
  CHECK(w.size() == CommandWindow::kEntries);
  for (int i = 0; i < 4; ++i) CHECK(w.find(("id-" + std::to_string(i)).c_str()) == nullptr);
  for (int i = 4; i < 20; ++i) CHECK(w.find(("id-" + std::to_string(i)).c_str()) != nullptr);
}

TEST_CASE("ids and results too long to keep are refused") {
  CommandWindow w;
  const std::string id(CommandWindow::kMaxId + 1, 'i');
  CHECK_FALSE(w.record(id.c_str(), true, "1", 1));
  const std::string result(CommandWindow::kMaxResult + 1, '1');
  CHECK_FALSE(w.record("x", true, result.data(), result.size()));
  CHECK_FALSE(w.record("", true, "1", 1));
  CHECK(w.size() == 0);
}

TEST_CASE("the window survives save and restore (a restart does not forget it)") {
  CommandWindow w;
  w.record("r-1", true, "{\"boot\":3}", 10);
  w.record("e-1", false, "\"unknown_command\"", 17);
  std::vector<uint8_t> image(CommandWindow::kImageSize);
  REQUIRE(w.save(image.data(), image.size()) == CommandWindow::kImageSize);
  CommandWindow back;
  REQUIRE(back.restore(image.data(), image.size()));
  CHECK(back.size() == 2);
  REQUIRE(back.find("r-1") != nullptr);
  CHECK(std::string(back.find("r-1")->result) == "{\"boot\":3}");
  CHECK(back.find("e-1")->ok == 0);
}

TEST_CASE("a corrupt or foreign image is refused and leaves the window empty") {
  CommandWindow w;
  w.record("a", true, "1", 1);
  std::vector<uint8_t> image(CommandWindow::kImageSize);
  w.save(image.data(), image.size());
  CommandWindow back;
  auto flipped = image;
  flipped[100] ^= 0x40;
  CHECK_FALSE(back.restore(flipped.data(), flipped.size()));
  CHECK(back.size() == 0);
  CHECK_FALSE(back.restore(image.data(), image.size() - 1));
  CHECK_FALSE(back.restore(nullptr, 0));
  std::vector<uint8_t> zeros(CommandWindow::kImageSize, 0);
  CHECK_FALSE(back.restore(zeros.data(), zeros.size()));
  CHECK(back.save(image.data(), 10) == 0);
}

TEST_CASE("crc32 is the standard one") {
  CHECK(crc32(reinterpret_cast<const uint8_t*>("123456789"), 9) == 0xCBF43926u);
}
