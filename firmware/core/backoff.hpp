// Reconnect delays: jittered exponential backoff (min * 2^attempt, capped at
// max, each delay drawn from [base * (1 - jitter), base]) so a fleet that
// lost its broker does not come back in lock-step; or a fixed delay. The
// random source is injected, so tests pick the draws.
#pragma once

#include <cstdint>

namespace vigil {

struct BackoffConfig {
  uint32_t min_ms = 1000;
  uint32_t max_ms = 30000;
  // Fraction of each delay that is random, 0..1 (0 = no jitter).
  float jitter = 0.5f;
  // When true every delay is min_ms (jitter still applies).
  bool fixed = false;
};

class Backoff {
 public:
  explicit Backoff(const BackoffConfig& config);
  // The delay before the next attempt; `random` is a uniform 32-bit draw.
  uint32_t next(uint32_t random);
  // After a successful connection (CONNACK 0).
  void reset() { attempt_ = 0; }
  uint32_t attempt() const { return attempt_; }
  // The un-jittered delay of the coming attempt.
  uint32_t base() const;

 private:
  BackoffConfig config_;
  uint32_t attempt_ = 0;
};

// xorshift32: a tiny PRNG for jitter (not for anything secret). Seed != 0.
class XorShift32 {
 public:
  explicit XorShift32(uint32_t seed) : state_(seed == 0 ? 0x9e3779b9u : seed) {}
  uint32_t operator()() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }

 private:
  uint32_t state_;
};

}  // namespace vigil
