// manager/endpoint.hh — the stack's socket endpoint, ${prefix}/dev/socket
// (SPEC §1 `prefix=`; clients select it with SOCK=prefix). An AF_UNIX
// SOCK_SEQPACKET listener, world-accessible like io-pkt's /dev/socket
// (access control is the stack's business, per request, not the file's).
#pragma once

#include <sys/types.h>

#include <string>

#include "kern/result.hh"

namespace iopkt {

class Endpoint {
 public:
  // Creates the directory (mkdir -p, 0755), binds, chmods 0666 and listens
  // with `backlog`; the socket is non-blocking and close-on-exec. If the
  // path exists:
  //  - a socket that accepts a connection: error "an io-pkt stack already
  //    serves PATH" (the probe connection is closed at once; a stack sees
  //    an empty session);
  //  - a socket nobody listens on (ECONNREFUSED: left by a killed stack):
  //    removed and replaced;
  //  - anything else: an error naming it.
  // The check-and-replace runs under an flock() on the directory, so two
  // stacks starting together cannot both take a stale path.
  static Result<Endpoint, std::string> create(const std::string& prefix, int backlog);

  // prefix + "/dev/socket"
  static std::string path_for(const std::string& prefix);

  Endpoint(Endpoint&& other) noexcept;
  Endpoint& operator=(Endpoint&& other) noexcept;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  ~Endpoint();  // remove()

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Closes the listener and unlinks the path, but only if it is still the
  // inode we bound: another stack may have replaced it since. Idempotent.
  void remove();

 private:
  Endpoint(int fd, std::string path, dev_t dev, ino_t ino)
      : fd_(fd), path_(std::move(path)), dev_(dev), ino_(ino) {}

  int fd_ = -1;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace iopkt
