#pragma once
// Reported as `fw` in the birth message.
namespace agent {
constexpr const char* kAgentVersion = "0.1.0";
}
