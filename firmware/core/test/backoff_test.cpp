#include <doctest/doctest.h>

#include "backoff.hpp"

using namespace vigil;

TEST_CASE("without jitter the delay doubles from min up to max, and reset starts over") {
  Backoff b({1000, 30000, 0.0f, false});
  const uint32_t expect[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (uint32_t e : expect) CHECK(b.next(0xffffffffu) == e);
  b.reset();
  CHECK(b.next(0) == 1000);
}

TEST_CASE("jitter takes at most its share off each delay, never adds") {
  Backoff lo({1000, 8000, 0.5f, false});
  Backoff hi({1000, 8000, 0.5f, false});
  for (int i = 0; i < 6; ++i) {
    const uint32_t base = lo.base();
    const uint32_t a = lo.next(0);            // no jitter drawn: the full base
    const uint32_t z = hi.next(0xffffffffu);  // the largest draw: about half off
    CHECK(a == base);
    CHECK(z >= base / 2);
    CHECK(z < base);
  }
}

TEST_CASE("jittered delays spread over the window (a fleet does not reconnect in lock-step)") {
  XorShift32 rng(12345);
  uint32_t min_seen = 0xffffffffu, max_seen = 0;
  for (int i = 0; i < 1000; ++i) {
    Backoff b({4000, 4000, 0.5f, false});
    const uint32_t d = b.next(rng());
    CHECK(d >= 2000);
    CHECK(d <= 4000);
    if (d < min_seen) min_seen = d;
    if (d > max_seen) max_seen = d;
  }
  CHECK(min_seen < 2200);
  CHECK(max_seen > 3800);
}

TEST_CASE("a fixed delay stays fixed") {
  Backoff b({5000, 60000, 0.0f, true});
  for (int i = 0; i < 10; ++i) CHECK(b.next(i * 7919u) == 5000);
}

TEST_CASE("nonsense settings are clamped: max below min, jitter above 1, zero min") {
  Backoff b({0, 0, 7.0f, false});
  CHECK(b.next(0) >= 1);
  Backoff c({2000, 1000, 1.0f, false});
  CHECK(c.base() == 2000);
  CHECK(c.next(0xffffffffu) >= 1);
  Backoff big({1000, 0xffffffffu, 0.0f, false});
  for (int i = 0; i < 100; ++i) big.next(0);  // no overflow after many attempts
  CHECK(big.base() == 0xffffffffu);
}
