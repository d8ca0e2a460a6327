#include "backoff.hpp"

namespace vigil {

Backoff::Backoff(const BackoffConfig& config) : config_(config) {
  if (config_.min_ms == 0) config_.min_ms = 1;
  if (config_.max_ms < config_.min_ms) config_.max_ms = config_.min_ms;
  if (!(config_.jitter >= 0.0f)) config_.jitter = 0.0f;  // also NaN
  if (config_.jitter > 1.0f) config_.jitter = 1.0f;
}

uint32_t Backoff::base() const {
  if (config_.fixed) return config_.min_ms;
  uint64_t d = config_.min_ms;
  for (uint32_t i = 0; i < attempt_ && d < config_.max_ms; ++i) d <<= 1;
  return d > config_.max_ms ? config_.max_ms : static_cast<uint32_t>(d);
}

uint32_t Backoff::next(uint32_t random) {
  const uint32_t b = base();
  if (attempt_ < 64) ++attempt_;
  // random / 2^32 in [0, 1): the share of the jitter window taken off.
  const double r = static_cast<double>(random) / 4294967296.0;
  const double off = static_cast<double>(b) * static_cast<double>(config_.jitter) * r;
  uint32_t d = static_cast<uint32_t>(static_cast<double>(b) - off);
  if (d == 0) d = 1;
  return d;
}

}  // namespace vigil
