// vigil-agent: the device protocol on a Linux gateway. Two threads, as on the
// ESP32: the application loop (this file: readings, heartbeats, commands,
// signals) and libmosquitto's network thread (mqtt_link.cpp). SIGUSR1 stalls
// only the application loop, so the broker keeps seeing PINGREQs and no
// heartbeat: the `silent` device, for real.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "device.hpp"
#include "mqtt_link.hpp"
#include "options.hpp"
#include "state_dir.hpp"
#include "system_stats.hpp"
#include "version.hpp"

namespace {

uint64_t mono_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

const vigil::TelemetryField kFields[] = {
    {"load1", 0.1, 2},        // 1-minute load average
    {"mem_avail_kb", 1024, 0}, // MemAvailable, kB
};

class AgentHooks final : public vigil::Hooks {
 public:
  explicit AgentHooks(agent::StateDir& state) : state_(state) {}
  int64_t unix_time() override { return static_cast<int64_t>(::time(nullptr)); }
  bool read_telemetry(double* values) override {
    int64_t mem = 0;
    if (!agent::read_load1(&values[0]) || !agent::read_mem_available_kb(&mem)) return false;
    values[1] = static_cast<double>(mem);
    return true;
  }
  int64_t free_heap() override {
    int64_t kb = 0;
    return agent::read_mem_available_kb(&kb) ? kb * 1024 : 0;
  }
  int64_t rssi() override { return agent::read_rssi(); }
  void save_commands(const uint8_t* image, size_t len) override {
    std::string error;
    if (!state_.save("commands", image, len, &error))
      std::fprintf(stderr, "vigil-agent: cannot save the command window: %s\n", error.c_str());
  }

 private:
  agent::StateDir& state_;
};

bool read_password(const std::string& file, std::string* out, std::string* error) {
  std::ifstream in(file);
  if (!in) {
    *error = "--password-file " + file + ": cannot read";
    return false;
  }
  std::getline(in, *out);
  if (!out->empty() && out->back() == '\r') out->pop_back();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  agent::Options opt;
  std::string error;
  bool exit_now = false;
  if (!agent::parse_options(argc, argv, &opt, &error, &exit_now)) {
    std::fprintf(stderr, "vigil-agent: %s\n", error.c_str());
    return 2;
  }
  if (exit_now) {
    std::fputs(error.c_str(), stdout);
    return 0;
  }

  // Signals are taken synchronously by the application loop (signalfd); the
  // mask is set before the network thread starts so that thread never
  // handles them. SIGPIPE: a broken connection is an error code, not death.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const int sig_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sig_fd < 0) {
    std::perror("vigil-agent: signalfd");
    return 1;
  }

  if (opt.state_dir.empty()) {
    const char* systemd = std::getenv("STATE_DIRECTORY");
    opt.state_dir = systemd != nullptr && *systemd != '\0' ? systemd : "/var/lib/vigil-agent";
  }
  agent::StateDir state;
  uint32_t boot = 0;
  if (!state.open(opt.state_dir, &error) || !state.next_boot(&boot, &error)) {
    std::fprintf(stderr, "vigil-agent: %s\n", error.c_str());
    return 2;
  }
  std::string password;
  if (!opt.password_file.empty() && !read_password(opt.password_file, &password, &error)) {
    std::fprintf(stderr, "vigil-agent: %s\n", error.c_str());
    return 2;
  }

  // The ring's pages: allocated once here, never again.
  std::vector<uint8_t> pages(static_cast<size_t>(opt.buffer_pages) * opt.page_size);
  vigil::PageRing ring(pages.data(), opt.page_size, opt.buffer_pages);
  AgentHooks hooks(state);
  auto link = std::make_unique<agent::MqttLink>();

  vigil::DeviceConfig dc;
  dc.id = opt.id.c_str();
  dc.fw = agent::kAgentVersion;
  dc.boot = boot;
  dc.heartbeat_ms = static_cast<uint32_t>(opt.interval_s * 1000 + 0.5);
  dc.sample_ms = dc.heartbeat_ms < 1000 ? dc.heartbeat_ms : 1000;
  dc.fields = kFields;
  dc.field_count = sizeof kFields / sizeof kFields[0];
  dc.window = 8;
  dc.resend_on_reconnect = false;  // libmosquitto re-sends its in-flight QoS 1 messages itself
  vigil::Device device(dc, *link, hooks, ring, mono_ms());
  if (!device.valid()) {
    std::fprintf(stderr, "vigil-agent: --id %s cannot be used in a topic\n", opt.id.c_str());
    return 2;
  }
  std::vector<uint8_t> image;
  if (state.load("commands", &image) && !device.restore_commands(image.data(), image.size()))
    std::fprintf(stderr, "vigil-agent: ignoring a corrupt command window in %s\n", state.path().c_str());

  agent::LinkConfig lc;
  lc.id = opt.id;
  lc.host = opt.host;
  lc.port = opt.port;
  lc.keepalive_s = opt.keepalive_s;
  lc.username = opt.username;
  lc.password = password;
  lc.cafile = opt.cafile;
  lc.will_topic = device.topics().status;
  lc.will_payload.assign(device.will_payload(), device.will_len());
  lc.commands_topic = device.topics().commands;
  lc.backoff.min_ms = static_cast<uint32_t>(opt.reconnect_min_s * 1000);
  lc.backoff.max_ms = static_cast<uint32_t>(opt.reconnect_max_s * 1000);
  lc.backoff.jitter = opt.reconnect_fixed ? 0.0f : 0.5f;
  lc.backoff.fixed = opt.reconnect_fixed;
  if (!link->start(lc, &error)) {
    std::fprintf(stderr, "vigil-agent: %s\n", error.c_str());
    return 1;
  }
  std::fprintf(stderr, "vigil-agent %s: id %s, boot %u, heartbeat every %g s, state in %s\n", agent::kAgentVersion,
               opt.id.c_str(), boot, opt.interval_s, state.path().c_str());

  bool stalled = false;
  bool stopping = false;
  bool restarting = false;
  agent::LinkEvent* ev = new agent::LinkEvent;  // 2 KiB: off the stack, once
  for (;;) {
    const uint64_t now = mono_ms();
    if (!stalled) {
      while (link->next_event(ev)) {
        switch (ev->kind) {
          case agent::LinkEvent::Connected: device.on_connected(mono_ms()); break;
          case agent::LinkEvent::Disconnected: device.on_disconnected(mono_ms()); break;
          case agent::LinkEvent::Published: device.on_published(ev->mid); break;
          case agent::LinkEvent::Command: device.on_command(ev->payload, ev->len, mono_ms()); break;
        }
      }
      if (stopping && device.stop_done(mono_ms())) break;
      if (!stopping && device.restart_due(mono_ms())) {
        restarting = true;
        break;
      }
      device.tick(mono_ms());
    }
    int timeout = -1;
    if (!stalled) {
      const uint64_t at = device.next_deadline(now);
      const uint64_t wait = at > mono_ms() ? at - mono_ms() : 0;
      timeout = static_cast<int>(wait > 1000 ? 1000 : wait);
      if (stopping) timeout = 20;
    }
    pollfd fds[2] = {{sig_fd, POLLIN, 0}, {link->event_fd(), POLLIN, 0}};
    // A stalled loop listens for signals only: it handles no command, no
    // PUBACK and sends nothing until SIGUSR2 (or a stop).
    const int n = poll(fds, stalled ? 1 : 2, timeout);
    if (n < 0 && errno != EINTR) {
      std::perror("vigil-agent: poll");
      break;
    }
    signalfd_siginfo si;
    while (read(sig_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      switch (si.ssi_signo) {
        case SIGTERM:
        case SIGINT:
          if (!stopping) {
            std::fprintf(stderr, "vigil-agent: stopping (graceful)\n");
            stopping = true;
            stalled = false;
            device.stop(mono_ms());
          }
          break;
        case SIGUSR1:
          if (!stalled) std::fprintf(stderr, "vigil-agent: application loop stalled (SIGUSR1); SIGUSR2 resumes\n");
          stalled = true;
          break;
        case SIGUSR2:
          if (stalled) std::fprintf(stderr, "vigil-agent: application loop resumed\n");
          stalled = false;
          break;
        default: break;  // SIGHUP: nothing to reload
      }
    }
  }
  delete ev;
  if (link->dropped_events() > 0)
    std::fprintf(stderr, "vigil-agent: %u MQTT events dropped (queue full)\n", link->dropped_events());
  link->shutdown(2000);
  if (!restarting) {
    std::fprintf(stderr, "vigil-agent: stopped\n");
    return 0;
  }
  // restart: a fresh process image with the same arguments; the boot counter
  // in --state-dir goes up by one and the command window comes back from it.
  std::fprintf(stderr, "vigil-agent: restarting\n");
  std::fflush(stderr);
  close(sig_fd);
  // The signal mask and pending signals survive execv: a SIGTERM that
  // arrives now is handled (gracefully) by the new image.
  execv("/proc/self/exe", argv);
  std::perror("vigil-agent: re-exec failed");
  return 1;
}
