#include "page_ring.hpp"

#include <cstring>

namespace vigil {

PageRing::PageRing(uint8_t* storage, uint16_t page_size, uint16_t pages)
    : storage_(storage), page_size_(page_size), pages_(pages > kMaxPages ? kMaxPages : pages) {
  if (storage_ == nullptr || page_size_ <= kHeader) pages_ = 0;
}

uint16_t PageRing::used_pages() const {
  return has_work_page() ? static_cast<uint16_t>(count_ - 1) : count_;
}

uint32_t PageRing::pending() const {
  uint32_t n = 0;
  for (uint16_t i = 0; i < count_; ++i) {
    const Page& pg = meta_[page_at(i)];
    for (uint16_t m = 0; m < pg.msgs; ++m) {
      if ((pg.acked & (uint64_t{1} << m)) == 0) ++n;
    }
  }
  return n;
}

// The oldest page goes, whatever it holds: its unsent messages are lost and
// counted; those already handed to the transport may still arrive.
void PageRing::drop_head() {
  Page& pg = meta_[head_];
  for (uint16_t m = 0; m < pg.msgs; ++m) {
    const uint32_t seq = pg.first_seq + m;
    if (seq >= send_seq_) ++dropped_;
  }
  const uint32_t after = pg.first_seq + pg.msgs;
  if (send_seq_ < after) send_seq_ = after;
  head_ = static_cast<uint16_t>((head_ + 1) % pages_);
  --count_;
}

// Frees closed head pages whose every message is acknowledged; an open work
// page that is fully sent and acknowledged is emptied in place.
void PageRing::free_acked_head() {
  while (count_ > 0) {
    Page& pg = meta_[head_];
    const uint64_t all = pg.msgs == 64 ? ~uint64_t{0} : ((uint64_t{1} << pg.msgs) - 1);
    if (pg.acked != all) return;
    if (!pg.closed) {
      if (count_ == 1 && send_seq_ == next_seq_) {
        pg.msgs = 0;
        pg.bytes = 0;
        pg.acked = 0;
        pg.first_seq = next_seq_;
      }
      return;
    }
    head_ = static_cast<uint16_t>((head_ + 1) % pages_);
    --count_;
  }
}

bool PageRing::open_page() {
  if (pages_ == 0) return false;
  if (count_ == pages_) drop_head();
  Page& pg = meta_[page_at(count_)];
  pg = Page{next_seq_, 0, 0, 0, false};
  ++count_;
  return true;
}

bool PageRing::push(const char* data, uint16_t len) {
  if (pages_ == 0 || static_cast<uint32_t>(len) + kHeader > page_size_) {
    ++rejected_;
    return false;
  }
  if (count_ > 0) {
    Page& work = meta_[page_at(count_ - 1)];
    if (!work.closed && (work.bytes + kHeader + len > page_size_ || work.msgs == kMaxPerPage)) work.closed = true;
  }
  if (!has_work_page() && !open_page()) {
    ++rejected_;
    return false;
  }
  const uint16_t p = page_at(count_ - 1);
  Page& work = meta_[p];
  uint8_t* at = page_data(p) + work.bytes;
  at[0] = static_cast<uint8_t>(len & 0xff);
  at[1] = static_cast<uint8_t>(len >> 8);
  std::memcpy(at + kHeader, data, len);
  work.bytes = static_cast<uint16_t>(work.bytes + kHeader + len);
  ++work.msgs;
  ++next_seq_;
  // A full page is closed at once so the next push opens a fresh one.
  if (work.msgs == kMaxPerPage || work.bytes + kHeader >= page_size_) work.closed = true;
  return true;
}

bool PageRing::next_unsent(Message* out) const {
  for (uint16_t i = 0; i < count_; ++i) {
    const uint16_t p = page_at(i);
    const Page& pg = meta_[p];
    const uint8_t* at = page_data(p);
    for (uint16_t m = 0; m < pg.msgs; ++m) {
      const uint32_t seq = pg.first_seq + m;
      const uint16_t len = static_cast<uint16_t>(at[0] | (at[1] << 8));
      // Skip what was handed out already, and (after a rewind) what was acked.
      if (seq >= send_seq_ && (pg.acked & (uint64_t{1} << m)) == 0) {
        out->seq = seq;
        out->len = len;
        out->data = reinterpret_cast<const char*>(at + kHeader);
        return true;
      }
      at += kHeader + len;
    }
  }
  return false;
}

void PageRing::mark_sent(uint32_t seq) {
  if (seq >= send_seq_ && seq < next_seq_) send_seq_ = seq + 1;
}

void PageRing::ack(uint32_t seq) {
  for (uint16_t i = 0; i < count_; ++i) {
    Page& pg = meta_[page_at(i)];
    if (seq >= pg.first_seq && seq < pg.first_seq + pg.msgs) {
      pg.acked |= uint64_t{1} << (seq - pg.first_seq);
      free_acked_head();
      return;
    }
  }
}

void PageRing::rewind() {
  for (uint16_t i = 0; i < count_; ++i) {
    const Page& pg = meta_[page_at(i)];
    for (uint16_t m = 0; m < pg.msgs; ++m) {
      const uint32_t seq = pg.first_seq + m;
      if (seq < send_seq_ && (pg.acked & (uint64_t{1} << m)) == 0) {
        send_seq_ = seq;
        return;
      }
    }
  }
}

}  // namespace vigil
