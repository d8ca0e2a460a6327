// The offline telemetry buffer: a ring of fixed-size pages in caller-owned
// memory (RAM here; on a device it may be RTC RAM or a flash partition laid
// out the same way). Messages are appended to the *work* page; a full work
// page becomes *used*; pages return to *free* only when every message in them
// has been acknowledged (PUBACK). When no page is free the oldest used page is
// dropped (FIFO overflow) and its unsent messages are counted in dropped().
// Messages are handed out in order, one sequence number each, so a reader
// sees them in the order they were produced.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vigil {

class PageRing {
 public:
  static constexpr uint16_t kMaxPages = 64;
  // A page holds at most this many messages (one bit each in the ack mask).
  static constexpr uint16_t kMaxPerPage = 64;
  static constexpr uint16_t kHeader = 2;  // u16 length before each message

  // `storage` must hold `pages * page_size` bytes and outlive the ring.
  PageRing(uint8_t* storage, uint16_t page_size, uint16_t pages);

  // Appends one message. False (and counted in rejected()) when it can never
  // fit a page. May drop the oldest page to make room.
  bool push(const char* data, uint16_t len);

  struct Message {
    uint32_t seq;
    const char* data;
    uint16_t len;
  };
  // The oldest message not yet handed out, if any.
  bool next_unsent(Message* out) const;
  // Marks the message returned by next_unsent() as handed to the transport.
  void mark_sent(uint32_t seq);
  // PUBACK for `seq`. Unknown or already-acked sequence numbers are ignored
  // (a page dropped by overflow may still see acks for messages in flight).
  void ack(uint32_t seq);
  // For transports that forget in-flight messages on disconnect: every sent,
  // unacknowledged message is handed out again, in order.
  void rewind();

  uint32_t dropped() const { return dropped_; }
  uint32_t rejected() const { return rejected_; }
  uint16_t free_pages() const { return static_cast<uint16_t>(pages_ - count_); }
  // Used pages (full, waiting to drain), not counting the open work page.
  uint16_t used_pages() const;
  bool has_work_page() const { return count_ > 0 && !meta_[page_at(count_ - 1)].closed; }
  // Messages stored and not yet acknowledged.
  uint32_t pending() const;
  bool empty() const { return pending() == 0; }
  uint32_t next_seq() const { return next_seq_; }

 private:
  struct Page {
    uint32_t first_seq;
    uint16_t msgs;
    uint16_t bytes;
    uint64_t acked;  // bit i: message first_seq + i acknowledged
    bool closed;
  };

  uint16_t page_at(uint16_t i) const { return static_cast<uint16_t>((head_ + i) % pages_); }
  uint8_t* page_data(uint16_t p) const { return storage_ + static_cast<size_t>(p) * page_size_; }
  void drop_head();
  void free_acked_head();
  bool open_page();

  uint8_t* storage_;
  uint16_t page_size_;
  uint16_t pages_;
  Page meta_[kMaxPages] = {};
  uint16_t head_ = 0;   // oldest page in use
  uint16_t count_ = 0;  // pages in use (used + work)
  uint32_t next_seq_ = 1;
  uint32_t send_seq_ = 1;  // next sequence number to hand out
  uint32_t dropped_ = 0;
  uint32_t rejected_ = 0;
};

}  // namespace vigil
