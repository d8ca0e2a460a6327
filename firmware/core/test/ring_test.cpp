#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "page_ring.hpp"

using namespace vigil;

namespace {
// Messages "m<seq>" padded to `size` bytes.
std::string msg(uint32_t n, size_t size = 10) {
  std::string s = "m" + std::to_string(n);
  s.resize(size, '.');
  return s;
}

// Hands out everything unsent (and acks it when `ack`); returns the payloads.
std::vector<std::string> drain(PageRing& r, bool ack, size_t max = 1000) {
  std::vector<std::string> out;
  PageRing::Message m;
  while (out.size() < max && r.next_unsent(&m)) {
    out.emplace_back(m.data, m.len);
    r.mark_sent(m.seq);
    if (ack) r.ack(m.seq);
  }
  return out;
}
}  // namespace

TEST_CASE("messages come out in the order they went in, one sequence number each") {
  uint8_t storage[4 * 64];
  PageRing r(storage, 64, 4);
  for (uint32_t i = 1; i <= 12; ++i) REQUIRE(r.push(msg(i).data(), 10));
  PageRing::Message m;
  REQUIRE(r.next_unsent(&m));
  CHECK(m.seq == 1);
  const auto out = drain(r, true);
  REQUIRE(out.size() == 12);
  for (uint32_t i = 1; i <= 12; ++i) CHECK(out[i - 1] == msg(i));
  CHECK(r.empty());
  CHECK(r.dropped() == 0);
}

TEST_CASE("pages move free -> work -> used -> free, and only acknowledged pages are freed") {
  uint8_t storage[3 * 48];
  PageRing r(storage, 48, 3);  // 4 messages of 12 bytes (2 + 10) per page
  CHECK(r.free_pages() == 3);
  for (uint32_t i = 1; i <= 4; ++i) r.push(msg(i).data(), 10);
  CHECK(r.used_pages() == 1);  // the page filled up and closed
  CHECK_FALSE(r.has_work_page());
  r.push(msg(5).data(), 10);
  CHECK(r.has_work_page());
  CHECK(r.free_pages() == 1);
  // Sent but not acknowledged: the page stays.
  const auto sent = drain(r, false, 4);
  CHECK(sent.size() == 4);
  CHECK(r.free_pages() == 1);
  r.ack(1);
  r.ack(2);
  r.ack(3);
  CHECK(r.free_pages() == 1);
  r.ack(4);
  CHECK(r.free_pages() == 2);
  CHECK(r.pending() == 1);
}

TEST_CASE("overflow drops the oldest page first and counts its unsent messages") {
  uint8_t storage[3 * 48];
  PageRing r(storage, 48, 3);
  for (uint32_t i = 1; i <= 20; ++i) r.push(msg(i).data(), 10);
  // 3 pages x 4 messages hold 12; 20 pushed: the first two pages went (8 dropped).
  CHECK(r.dropped() == 8);
  const auto out = drain(r, true);
  REQUIRE(out.size() == 12);
  CHECK(out.front() == msg(9));
  CHECK(out.back() == msg(20));
  for (size_t i = 1; i < out.size(); ++i) CHECK(out[i] == msg(static_cast<uint32_t>(9 + i)));
}

TEST_CASE("messages already handed out are not counted as dropped; their late acks are ignored") {
  uint8_t storage[2 * 48];
  PageRing r(storage, 48, 2);
  for (uint32_t i = 1; i <= 4; ++i) r.push(msg(i).data(), 10);
  const auto inflight = drain(r, false, 2);  // 1 and 2 in flight
  CHECK(inflight.size() == 2);
  for (uint32_t i = 5; i <= 12; ++i) r.push(msg(i).data(), 10);  // page 1 dropped
  CHECK(r.dropped() == 2);  // 3 and 4 were never sent
  r.ack(1);
  r.ack(2);
  const auto out = drain(r, true);
  REQUIRE(out.size() == 8);
  CHECK(out.front() == msg(5));
  CHECK(out.back() == msg(12));
}

TEST_CASE("a message larger than a page is rejected and counted, the ring untouched") {
  uint8_t storage[2 * 32];
  PageRing r(storage, 32, 2);
  const std::string big(31, 'x');
  CHECK_FALSE(r.push(big.data(), static_cast<uint16_t>(big.size())));
  CHECK(r.rejected() == 1);
  CHECK(r.empty());
  const std::string fits(30, 'y');
  CHECK(r.push(fits.data(), 30));
}

TEST_CASE("rewind hands out again what was sent and not acknowledged, in order, skipping acked ones") {
  uint8_t storage[4 * 64];
  PageRing r(storage, 64, 4);
  for (uint32_t i = 1; i <= 6; ++i) r.push(msg(i).data(), 10);
  const auto sent = drain(r, false);
  CHECK(sent.size() == 6);
  r.ack(1);
  r.ack(3);  // out of order
  r.rewind();
  const auto again = drain(r, true);
  REQUIRE(again.size() == 4);
  CHECK(again[0] == msg(2));
  CHECK(again[1] == msg(4));
  CHECK(again[3] == msg(6));
  CHECK(r.empty());
}

TEST_CASE("a fully acknowledged work page is reused in place") {
  uint8_t storage[1 * 64];
  PageRing r(storage, 64, 1);
  for (uint32_t round = 0; round < 50; ++round) {
    REQUIRE(r.push(msg(round).data(), 10));
    REQUIRE(drain(r, true).size() == 1);
  }
  CHECK(r.dropped() == 0);
  CHECK(r.free_pages() == 0);  // the single page stays the work page
  CHECK(r.pending() == 0);
}

TEST_CASE("a page holds at most 64 messages however small they are") {
  uint8_t storage[2 * 1024];
  PageRing r(storage, 1024, 2);
  for (uint32_t i = 0; i < 65; ++i) REQUIRE(r.push("x", 1));
  CHECK(r.used_pages() == 1);
  CHECK(r.has_work_page());
  CHECK(drain(r, true).size() == 65);
  CHECK(r.empty());
}

TEST_CASE("a ring without storage refuses everything") {
  PageRing r(nullptr, 64, 4);
  CHECK_FALSE(r.push("x", 1));
  PageRing::Message m;
  CHECK_FALSE(r.next_unsent(&m));
}
