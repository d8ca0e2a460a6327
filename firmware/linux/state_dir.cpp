#include "state_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace agent {

bool StateDir::open(const std::string& dir, std::string* error) {
  dir_ = dir;
  // mkdir -p: every missing level, then the directory itself.
  for (size_t slash = dir.find('/', 1); slash != std::string::npos; slash = dir.find('/', slash + 1)) {
    const std::string parent = dir.substr(0, slash);
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
      *error = "--state-dir " + dir + ": cannot create " + parent + ": " + std::strerror(errno);
      return false;
    }
  }
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    *error = "--state-dir " + dir + ": cannot create: " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || ::access(dir.c_str(), W_OK) != 0) {
    *error = "--state-dir " + dir + ": not a writable directory";
    return false;
  }
  return true;
}

bool StateDir::load(const char* name, std::vector<uint8_t>* out) {
  const std::string file = dir_ + "/" + name;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  uint8_t buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { ::close(fd); return false; }
    if (n == 0) break;
    out->insert(out->end(), buf, buf + n);
    if (out->size() > (1u << 20)) { ::close(fd); return false; }
  }
  ::close(fd);
  return true;
}

bool StateDir::save(const char* name, const uint8_t* data, size_t len, std::string* error) {
  const std::string file = dir_ + "/" + name;
  const std::string tmp = file + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = tmp + ": " + std::strerror(errno);
    return false;
  }
  size_t off = 0;
  while (off < len) {
    const ssize_t n = ::write(fd, data + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = tmp + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  // The new content reaches the disk before the name points at it, so a
  // power cut leaves the old file or the new one, never half of one.
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), file.c_str()) != 0) {
    *error = file + ": " + std::strerror(errno);
    return false;
  }
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool StateDir::next_boot(uint32_t* boot, std::string* error) {
  std::vector<uint8_t> data;
  unsigned long previous = 0;
  if (load("boot", &data)) {
    const std::string text(data.begin(), data.end());
    char* end = nullptr;
    previous = std::strtoul(text.c_str(), &end, 10);
    // A corrupt counter restarts from 0 rather than refusing to boot.
    if (end == text.c_str() || previous >= 0xffffffffUL) previous = 0;
  }
  *boot = static_cast<uint32_t>(previous + 1);
  const std::string out = std::to_string(*boot) + "\n";
  return save("boot", reinterpret_cast<const uint8_t*>(out.data()), out.size(), error);
}

}  // namespace agent
