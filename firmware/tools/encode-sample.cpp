// Prints the core's payloads for fixed inputs, one per line, so a test can
// compare them byte for byte with bench/simulator.ts:
//   encode-sample will | graceful
//   encode-sample birth TS FW BOOT
//   encode-sample heartbeat TS UPTIME HEAP RSSI INTERVAL
//   encode-sample ack ID ok|error RESULT_JSON
//   encode-sample telemetry TS SEQ DROPPED NAME:VALUE:DECIMALS...
//   encode-sample topics ID
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "protocol.hpp"

namespace {
int usage() {
  std::fputs("usage: encode-sample will|graceful|birth TS FW BOOT|heartbeat TS UPTIME HEAP RSSI INTERVAL|ack ID ok|error RESULT|telemetry TS SEQ DROPPED NAME:VALUE:DECIMALS...|topics ID\n",
             stderr);
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  char buf[1024];
  size_t n = 0;
  const char* what = argv[1];
  if (std::strcmp(what, "will") == 0 && argc == 2) {
    n = vigil::encode_will(buf, sizeof buf);
  } else if (std::strcmp(what, "graceful") == 0 && argc == 2) {
    n = vigil::encode_graceful(buf, sizeof buf);
  } else if (std::strcmp(what, "birth") == 0 && argc == 5) {
    n = vigil::encode_birth(buf, sizeof buf, std::strtoll(argv[2], nullptr, 10), argv[3],
                            static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)));
  } else if (std::strcmp(what, "heartbeat") == 0 && argc == 7) {
    const vigil::Heartbeat hb{std::strtoll(argv[2], nullptr, 10), std::strtoll(argv[3], nullptr, 10),
                              std::strtoll(argv[4], nullptr, 10), std::strtoll(argv[5], nullptr, 10),
                              std::strtod(argv[6], nullptr)};
    n = vigil::encode_heartbeat(buf, sizeof buf, hb);
  } else if (std::strcmp(what, "ack") == 0 && argc == 5) {
    n = vigil::encode_ack(buf, sizeof buf, argv[2], std::strcmp(argv[3], "ok") == 0, argv[4], std::strlen(argv[4]));
  } else if (std::strcmp(what, "telemetry") == 0 && argc >= 5 && argc <= 5 + 8) {
    vigil::TelemetryField fields[8];
    double values[8];
    char names[8][32];
    const size_t n_fields = static_cast<size_t>(argc - 5);
    for (size_t i = 0; i < n_fields; ++i) {
      int decimals = 0;
      if (std::sscanf(argv[5 + i], "%31[^:]:%lf:%d", names[i], &values[i], &decimals) != 3) return usage();
      fields[i] = vigil::TelemetryField{names[i], 0, decimals};
    }
    n = vigil::encode_telemetry(buf, sizeof buf, std::strtoll(argv[2], nullptr, 10),
                                static_cast<uint32_t>(std::strtoul(argv[3], nullptr, 10)), fields, values, n_fields,
                                static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10)));
  } else if (std::strcmp(what, "topics") == 0 && argc == 3) {
    vigil::Topics t;
    if (!vigil::make_topics(argv[2], &t)) return usage();
    std::printf("%s\n%s\n%s\n%s\n%s\n", t.status, t.heartbeat, t.telemetry, t.commands, t.ack);
    return 0;
  } else {
    return usage();
  }
  if (n == 0) {
    std::fputs("encode-sample: does not fit\n", stderr);
    return 1;
  }
  std::printf("%s\n", buf);
  return 0;
}
