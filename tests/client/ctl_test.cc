// tests/client/ctl_test.cc — libiopkt against a fake stack: a thread
// serving an AF_UNIX SOCK_SEQPACKET endpoint in a temporary directory, with
// SOCK pointing at it. Checks what the library puts on the wire (headers,
// sequence numbers, bodies, the channel passed as SCM_RIGHTS), how it takes
// replies (seq/type matching, error messages, descriptors), the datagram
// channel format (control.h iopkt_dgram_hdr) with truncation and peeking,
// the no-stack message, reconnecting after fork, and the registry lookup.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "iopkt/iopkt.h"

namespace {

struct Request {
  iopkt_ctl_hdr hdr{};
  std::vector<uint8_t> body;
  int fd = -1;   // passed with the request (owned by the server)
  int conn = 0;  // which connection (1, 2, ...)
};

struct Reply {
  int32_t error = 0;
  std::vector<uint8_t> body;
  int fd = -1;                 // passed with the reply (the server closes its copy)
  int64_t seq_delta = 0;       // added to the echoed seq (to test mismatches)
  int32_t type_override = -1;  // replaces the echoed type
  bool hang_up = false;        // close the connection instead of answering
};

template <typename T>
std::vector<uint8_t> bytes_of(const T& v) {
  std::vector<uint8_t> out(sizeof v);
  memcpy(out.data(), &v, sizeof v);
  return out;
}

std::string make_temp_dir() {
  char tmpl[] = "/tmp/iopkt-client-test-XXXXXX";
  char* dir = mkdtemp(tmpl);
  return dir != nullptr ? dir : "";
}

void remove_tree(const std::string& dir) {
  std::string cmd = "rm -rf '" + dir + "'";
  (void)system(cmd.c_str());
}

// A stack that answers with whatever the test's handler says.
class FakeStack {
 public:
  using Handler = std::function<Reply(const Request&)>;

  explicit FakeStack(Handler h = nullptr) : handler_(std::move(h)) {
    dir_ = make_temp_dir();
    std::string dev = dir_ + "/dev";
    mkdir(dev.c_str(), 0755);
    path_ = dev + "/socket";
    listener_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    strncpy(sun.sun_path, path_.c_str(), sizeof sun.sun_path - 1);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
    EXPECT_EQ(listen(listener_, 8), 0);
    thread_ = std::thread([this] { run(); });
  }

  ~FakeStack() {
    stop_ = true;
    thread_.join();
    close(listener_);
    for (Request& r : requests_) {
      if (r.fd >= 0) {
        close(r.fd);
      }
    }
    remove_tree(dir_);
  }

  const std::string& prefix() const { return dir_; }
  const std::string& path() const { return path_; }

  void set_handler(Handler h) {
    std::lock_guard lock(mu_);
    handler_ = std::move(h);
  }

  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int connections() const { return connections_; }

 private:
  void run() {
    std::vector<int> conns;
    std::vector<int> ids;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      std::vector<pollfd> pfds{{listener_, POLLIN, 0}};
      for (int c : conns) {
        pfds.push_back({c, POLLIN, 0});
      }
      if (poll(pfds.data(), pfds.size(), 20) <= 0) {
        continue;
      }
      if ((pfds[0].revents & POLLIN) != 0) {
        int c = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          conns.push_back(c);
          ids.push_back(++connections_);
        }
      }
      for (size_t i = 1; i < pfds.size(); ++i) {
        if (pfds[i].revents == 0) {
          continue;
        }
        if (!serve_one(pfds[i].fd, ids[i - 1])) {
          close(pfds[i].fd);
          conns[i - 1] = -1;
        }
      }
      for (size_t i = conns.size(); i-- > 0;) {
        if (conns[i] < 0) {
          conns.erase(conns.begin() + static_cast<long>(i));
          ids.erase(ids.begin() + static_cast<long>(i));
        }
      }
    }
    for (int c : conns) {
      close(c);
    }
  }

  // One request on connection `c`; false when the connection ends.
  bool serve_one(int c, int id) {
    std::vector<uint8_t> buf(IOPKT_CTL_MAX_MSG + sizeof(iopkt_ctl_hdr));
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(c, &m, MSG_CMSG_CLOEXEC);
    if (n <= 0) {
      return false;
    }
    Request req;
    req.conn = id;
    memcpy(&req.hdr, buf.data(), sizeof req.hdr);
    req.body.assign(buf.begin() + sizeof req.hdr, buf.begin() + n);
    for (cmsghdr* cm = CMSG_FIRSTHDR(&m); cm != nullptr; cm = CMSG_NXTHDR(&m, cm)) {
      if (cm->cmsg_type == SCM_RIGHTS) {
        memcpy(&req.fd, CMSG_DATA(cm), sizeof(int));
      }
    }
    Reply rep;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(req);
      if (handler_) {
        rep = handler_(req);
      } else if (req.hdr.type == IOPKT_CTL_HELLO) {
        iopkt_ctl_hello_reply h{};
        h.ctl_version = IOPKT_CTL_VERSION;
        h.variant = 4;
        h.pid = getpid();
        rep.body = bytes_of(h);
      } else {
        rep.error = ENOSYS;
      }
    }
    if (rep.hang_up) {
      return false;
    }
    iopkt_ctl_hdr h = req.hdr;
    h.seq = static_cast<uint32_t>(h.seq + rep.seq_delta);
    if (rep.type_override >= 0) {
      h.type = static_cast<uint16_t>(rep.type_override);
    }
    h.error = rep.error;
    h.len = static_cast<uint32_t>(rep.body.size());
    iovec out[2] = {{&h, sizeof h}, {rep.body.data(), rep.body.size()}};
    msghdr om{};
    om.msg_iov = out;
    om.msg_iovlen = rep.body.empty() ? 1 : 2;
    alignas(cmsghdr) char ocbuf[CMSG_SPACE(sizeof(int))];
    if (rep.fd >= 0) {
      memset(ocbuf, 0, sizeof ocbuf);
      om.msg_control = ocbuf;
      om.msg_controllen = sizeof ocbuf;
      cmsghdr* cm = CMSG_FIRSTHDR(&om);
      cm->cmsg_level = SOL_SOCKET;
      cm->cmsg_type = SCM_RIGHTS;
      cm->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(cm), &rep.fd, sizeof(int));
    }
    bool ok = sendmsg(c, &om, MSG_NOSIGNAL) >= 0;
    if (rep.fd >= 0) {
      close(rep.fd);
    }
    return ok;
  }

  std::string dir_;
  std::string path_;
  int listener_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  Handler handler_;
  std::vector<Request> requests_;
};

// Points SOCK at a fake stack for one test, and drops the library's
// connection before and after so that tests do not see each other's.
class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override { iopkt_disconnect(); }
  void TearDown() override {
    iopkt_disconnect();
    unsetenv("SOCK");
  }
  void use(const FakeStack& s) { setenv("SOCK", s.prefix().c_str(), 1); }
};

bool same_file(int a, int b) {
  struct stat sa {};
  struct stat sb {};
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
         sa.st_dev == sb.st_dev;
}

TEST_F(ClientTest, NoStackNamesThePathTried) {
  setenv("SOCK", "/tmp/iopkt-client-test-nothing-here", 1);
  errno = 0;
  EXPECT_EQ(iopkt_hello(nullptr), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_STREQ(iopkt_last_error(),
               "no io-pkt stack at /tmp/iopkt-client-test-nothing-here/dev/socket: No such file "
               "or directory");
  char path[256];
  iopkt_endpoint_path(path, sizeof path);
  EXPECT_STREQ(path, "/tmp/iopkt-client-test-nothing-here/dev/socket");
}

TEST_F(ClientTest, DefaultEndpointIsDevSocket) {
  unsetenv("SOCK");
  char path[256];
  EXPECT_EQ(iopkt_endpoint_path(path, sizeof path), strlen("/dev/socket"));
  EXPECT_STREQ(path, "/dev/socket");
  setenv("SOCK", "", 1);
  iopkt_endpoint_path(path, sizeof path);
  EXPECT_STREQ(path, "/dev/socket");
}

TEST_F(ClientTest, SocketNobodyListensOnIsConnectionRefused) {
  std::string dir = make_temp_dir();
  mkdir((dir + "/dev").c_str(), 0755);
  int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::string path = dir + "/dev/socket";
  strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
  setenv("SOCK", dir.c_str(), 1);
  errno = 0;
  EXPECT_EQ(iopkt_hello(nullptr), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
  EXPECT_NE(std::string(iopkt_last_error()).find("no io-pkt stack at " + path), std::string::npos);
  close(s);
  remove_tree(dir);
}

TEST_F(ClientTest, RequestCarriesHeaderBodyAndIncreasingSeq) {
  FakeStack stack([](const Request& r) {
    Reply rep;
    iopkt_ctl_sysctl e{};
    memcpy(&e, r.body.data(), std::min(r.body.size(), sizeof e));
    strcpy(e.value, "64");
    e.type = IOPKT_SYSCTL_INT;
    rep.body = bytes_of(e);
    return rep;
  });
  use(stack);
  iopkt_ctl_sysctl req{};
  strcpy(req.name, "net.inet.ip.ttl");
  iopkt_ctl_sysctl out{};
  uint32_t len = sizeof out;
  ASSERT_EQ(iopkt_request(IOPKT_CTL_SYSCTL_GET, &req, sizeof req, -1, &out, &len, nullptr), 0)
      << iopkt_last_error();
  EXPECT_EQ(len, sizeof out);
  EXPECT_STREQ(out.value, "64");
  EXPECT_STREQ(out.name, "net.inet.ip.ttl");
  len = sizeof out;
  ASSERT_EQ(iopkt_request(IOPKT_CTL_SYSCTL_GET, &req, sizeof req, -1, &out, &len, nullptr), 0);

  std::vector<Request> seen = stack.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].hdr.magic, IOPKT_CTL_MAGIC);
  EXPECT_EQ(seen[0].hdr.version, IOPKT_CTL_VERSION);
  EXPECT_EQ(seen[0].hdr.type, IOPKT_CTL_SYSCTL_GET);
  EXPECT_EQ(seen[0].hdr.len, sizeof req);
  EXPECT_EQ(seen[0].hdr.error, 0);
  EXPECT_EQ(seen[0].body, bytes_of(req));
  EXPECT_EQ(seen[0].fd, -1);
  EXPECT_EQ(seen[1].hdr.seq, seen[0].hdr.seq + 1);
  EXPECT_EQ(seen[1].conn, seen[0].conn);  // one connection per process
}

TEST_F(ClientTest, ErrorReplySetsErrnoAndMessage) {
  FakeStack stack([](const Request&) {
    Reply rep;
    rep.error = ENOENT;
    std::string msg = "devnp-nope.so: not found in the module path";
    rep.body.assign(msg.begin(), msg.end());
    rep.body.push_back(0);
    return rep;
  });
  use(stack);
  iopkt_ctl_mount m{};
  strcpy(m.driver, "nope");
  errno = 0;
  EXPECT_EQ(iopkt_request(IOPKT_CTL_MOUNT, &m, sizeof m, -1, nullptr, nullptr, nullptr), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_STREQ(iopkt_last_error(), "devnp-nope.so: not found in the module path");
}

TEST_F(ClientTest, ErrorReplyWithoutMessageReadsAsStrerror) {
  FakeStack stack([](const Request&) {
    Reply rep;
    rep.error = EEXIST;
    return rep;
  });
  use(stack);
  errno = 0;
  EXPECT_EQ(iopkt_request(IOPKT_CTL_IF_CREATE, "x", 1, -1, nullptr, nullptr, nullptr), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_STREQ(iopkt_last_error(), strerror(EEXIST));
}

TEST_F(ClientTest, MismatchedSeqOrTypeIsEprotoAndTheNextRequestReconnects) {
  FakeStack stack([](const Request& r) {
    Reply rep;
    if (r.conn == 1) {
      rep.seq_delta = 1;
    } else if (r.conn == 2) {
      rep.type_override = IOPKT_CTL_MOUNT;
    }
    iopkt_ctl_hello_reply h{};
    rep.body = bytes_of(h);
    return rep;
  });
  use(stack);
  errno = 0;
  EXPECT_EQ(iopkt_hello(nullptr), -1);
  EXPECT_EQ(errno, EPROTO);
  EXPECT_NE(std::string(iopkt_last_error()).find("bad reply"), std::string::npos);
  errno = 0;
  EXPECT_EQ(iopkt_hello(nullptr), -1);
  EXPECT_EQ(errno, EPROTO);
  EXPECT_EQ(iopkt_hello(nullptr), 0) << iopkt_last_error();
  EXPECT_EQ(stack.connections(), 3);
}

TEST_F(ClientTest, ReplyLargerThanTheBufferIsEmsgsize) {
  FakeStack stack([](const Request&) {
    Reply rep;
    rep.body.assign(100, 7);
    return rep;
  });
  use(stack);
  uint8_t small[10];
  uint32_t len = sizeof small;
  errno = 0;
  EXPECT_EQ(iopkt_request(IOPKT_CTL_HELLO, nullptr, 0, -1, small, &len, nullptr), -1);
  EXPECT_EQ(errno, EMSGSIZE);
}

TEST_F(ClientTest, StackHangingUpIsEconnreset) {
  FakeStack stack([](const Request&) {
    Reply rep;
    rep.hang_up = true;
    return rep;
  });
  use(stack);
  errno = 0;
  EXPECT_EQ(iopkt_hello(nullptr), -1);
  EXPECT_EQ(errno, ECONNRESET);
}

TEST_F(ClientTest, ChangingSockSwitchesStacks) {
  FakeStack a;
  FakeStack b;
  use(a);
  ASSERT_EQ(iopkt_hello(nullptr), 0);
  use(b);
  ASSERT_EQ(iopkt_hello(nullptr), 0);
  EXPECT_EQ(a.requests().size(), 1u);
  EXPECT_EQ(b.requests().size(), 1u);
  // The explicit-prefix form goes where it is told, whatever SOCK says.
  iopkt_ctl_hello_reply h{};
  uint32_t len = sizeof h;
  ASSERT_EQ(
      iopkt_request_at(a.prefix().c_str(), IOPKT_CTL_HELLO, nullptr, 0, -1, &h, &len, nullptr), 0);
  EXPECT_EQ(a.requests().size(), 2u);
  EXPECT_EQ(a.connections(), 2);
}

TEST_F(ClientTest, ForkedChildOpensItsOwnConnection) {
  FakeStack stack;
  use(stack);
  ASSERT_EQ(iopkt_hello(nullptr), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    _exit(iopkt_hello(nullptr) == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(iopkt_hello(nullptr), 0);
  std::vector<Request> seen = stack.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_NE(seen[1].conn, seen[0].conn);  // the child's own
  EXPECT_EQ(seen[2].conn, seen[0].conn);  // the parent's is untouched
}

// A stack whose SOCKET request hands out one end of a socketpair; the test
// keeps the other end as "the stack's side" of the data channel.
class SocketTest : public ClientTest {
 protected:
  void SetUp() override {
    ClientTest::SetUp();
    stack_.set_handler([this](const Request& r) {
      Reply rep;
      if (r.hdr.type == IOPKT_CTL_SOCKET) {
        int sv[2];
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
        peer_ = sv[0];
        rep.fd = sv[1];
      } else if (r.hdr.type == IOPKT_CTL_GETSOCKNAME) {
        iopkt_ctl_sockaddr a{};
        a.addr.family = AF_INET;
        a.addr.port = 9;
        a.addr.addr[0] = 198;
        a.addr.addr[1] = 51;
        a.addr.addr[2] = 100;
        a.addr.addr[3] = 1;
        rep.body = bytes_of(a);
      } else if (r.hdr.type == IOPKT_CTL_GETSOCKOPT) {
        iopkt_ctl_sockopt o{};
        memcpy(&o, r.body.data(), sizeof o);
        o.len = sizeof(int);
        int v = 1234;
        memcpy(o.value, &v, sizeof v);
        rep.body = bytes_of(o);
      }
      return rep;
    });
    use(stack_);
  }
  void TearDown() override {
    if (peer_ >= 0) {
      close(peer_);
    }
    ClientTest::TearDown();
  }

  int make_socket(int type) {
    int fd = iopkt_socket(AF_INET, type, 0);
    EXPECT_GE(fd, 0) << iopkt_last_error();
    return fd;
  }

  FakeStack stack_;
  int peer_ = -1;
};

TEST_F(SocketTest, SocketStripsFlagsAndAppliesThemLocally) {
  int fd = iopkt_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  ASSERT_GE(fd, 0) << iopkt_last_error();
  std::vector<Request> seen = stack_.requests();
  ASSERT_EQ(seen.size(), 1u);
  iopkt_ctl_socket req{};
  ASSERT_EQ(seen[0].body.size(), sizeof req);
  memcpy(&req, seen[0].body.data(), sizeof req);
  EXPECT_EQ(req.domain, AF_INET);
  EXPECT_EQ(req.type, SOCK_DGRAM);
  EXPECT_EQ(req.protocol, IPPROTO_UDP);
  EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  int domain = 0;
  int type = 0;
  EXPECT_EQ(iopkt_is_socket(fd, &domain, &type), 1);
  EXPECT_EQ(domain, AF_INET);
  EXPECT_EQ(type, SOCK_DGRAM);
  EXPECT_EQ(iopkt_close(fd), 0);
  EXPECT_EQ(iopkt_is_socket(fd, nullptr, nullptr), 0);

  int plain = make_socket(SOCK_DGRAM);
  EXPECT_EQ(fcntl(plain, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(fcntl(plain, F_GETFD) & FD_CLOEXEC, 0);
  iopkt_close(plain);
}

TEST_F(SocketTest, OtherDomainsGoToTheKernel) {
  int fd = iopkt_socket(AF_UNIX, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(iopkt_is_socket(fd, nullptr, nullptr), 0);
  EXPECT_TRUE(stack_.requests().empty());
  iopkt_close(fd);
}

TEST_F(SocketTest, BindPassesTheChannelAndTheAddress) {
  int fd = make_socket(SOCK_DGRAM);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(4242);
  inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
  ASSERT_EQ(iopkt_bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0) << iopkt_last_error();
  std::vector<Request> seen = stack_.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].hdr.type, IOPKT_CTL_BIND);
  ASSERT_GE(seen[1].fd, 0);
  EXPECT_TRUE(same_file(seen[1].fd, fd));
  iopkt_ctl_sockaddr a{};
  ASSERT_EQ(seen[1].body.size(), sizeof a);
  memcpy(&a, seen[1].body.data(), sizeof a);
  EXPECT_EQ(a.addr.family, AF_INET);
  EXPECT_EQ(a.addr.port, 4242);
  EXPECT_EQ(a.addr.addr[0], 192);

  errno = 0;
  EXPECT_EQ(iopkt_bind(fd, reinterpret_cast<sockaddr*>(&sin), 4), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(stack_.requests().size(), 2u);  // refused before asking
  iopkt_close(fd);
}

TEST_F(SocketTest, GetsocknameConvertsAndTruncatesAsTheKernel) {
  int fd = make_socket(SOCK_DGRAM);
  sockaddr_in sin{};
  socklen_t len = sizeof sin;
  ASSERT_EQ(iopkt_getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len), 0);
  EXPECT_EQ(len, sizeof sin);
  EXPECT_EQ(sin.sin_family, AF_INET);
  EXPECT_EQ(ntohs(sin.sin_port), 9);
  char text[INET_ADDRSTRLEN];
  EXPECT_STREQ(inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text), "198.51.100.1");

  sockaddr_in small{};
  len = 4;
  ASSERT_EQ(iopkt_getsockname(fd, reinterpret_cast<sockaddr*>(&small), &len), 0);
  EXPECT_EQ(len, sizeof sin);               // the full length
  EXPECT_EQ(small.sin_port, sin.sin_port);  // bytes 2..3 fit
  EXPECT_EQ(small.sin_addr.s_addr, 0u);     // the rest did not
  iopkt_close(fd);
}

TEST_F(SocketTest, SockoptsTravelWithLevelNameAndValue) {
  int fd = make_socket(SOCK_DGRAM);
  int on = 1;
  ASSERT_EQ(iopkt_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
  int v = 0;
  socklen_t len = sizeof v;
  ASSERT_EQ(iopkt_getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len), 0);
  EXPECT_EQ(v, 1234);
  EXPECT_EQ(len, sizeof v);
  std::vector<Request> seen = stack_.requests();
  ASSERT_EQ(seen.size(), 3u);
  iopkt_ctl_sockopt o{};
  ASSERT_EQ(seen[1].body.size(), sizeof o);
  memcpy(&o, seen[1].body.data(), sizeof o);
  EXPECT_EQ(o.level, SOL_SOCKET);
  EXPECT_EQ(o.name, SO_REUSEADDR);
  EXPECT_EQ(o.len, sizeof on);
  memcpy(&o, seen[2].body.data(), sizeof o);
  EXPECT_EQ(o.name, SO_RCVBUF);
  EXPECT_EQ(o.len, sizeof v);  // the caller's buffer size
  EXPECT_TRUE(seen[2].fd >= 0 && same_file(seen[2].fd, fd));

  std::vector<uint8_t> big(IOPKT_CTL_SOCKOPT_MAX + 1);
  errno = 0;
  EXPECT_EQ(iopkt_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, big.data(), big.size()), -1);
  EXPECT_EQ(errno, EINVAL);
  iopkt_close(fd);
}

TEST_F(SocketTest, SendtoWritesOneMessageWithHeaderAndPayload) {
  int fd = make_socket(SOCK_DGRAM);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(7);
  inet_pton(AF_INET, "203.0.113.5", &to.sin_addr);
  ASSERT_EQ(iopkt_sendto(fd, "hello", 5, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 5);

  uint8_t buf[256];
  ssize_t n = recv(peer_, buf, sizeof buf, MSG_DONTWAIT);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof(iopkt_dgram_hdr) + 5));
  iopkt_dgram_hdr h{};
  memcpy(&h, buf, sizeof h);
  EXPECT_EQ(h.version, IOPKT_DGRAM_VERSION);
  EXPECT_EQ(h.hdr_len, sizeof h);
  EXPECT_EQ(h.addr.family, AF_INET);
  EXPECT_EQ(h.addr.port, 7);
  EXPECT_EQ(h.addr.addr[0], 203);
  EXPECT_EQ(h.cmsg_len, 0u);
  EXPECT_EQ(h.payload_len, 5u);
  EXPECT_EQ(memcmp(buf + sizeof h, "hello", 5), 0);

  // send(): no address, family 0 (the connected peer); sendmsg gathers.
  // Without a peer it is EDESTADDRREQ, as on Linux, and sends nothing.
  errno = 0;
  EXPECT_EQ(iopkt_send(fd, "", 0, 0), -1);
  EXPECT_EQ(errno, EDESTADDRREQ);
  ASSERT_EQ(iopkt_connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  ASSERT_EQ(iopkt_send(fd, "", 0, 0), 0);
  n = recv(peer_, buf, sizeof buf, MSG_DONTWAIT);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof h));
  memcpy(&h, buf, sizeof h);
  EXPECT_EQ(h.addr.family, 0);
  EXPECT_EQ(h.payload_len, 0u);

  char a[] = "ab";
  char b[] = "cde";
  iovec iov[2] = {{a, 2}, {b, 3}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  ASSERT_EQ(iopkt_sendmsg(fd, &m, 0), 5);
  n = recv(peer_, buf, sizeof buf, MSG_DONTWAIT);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof h + 5));
  EXPECT_EQ(memcmp(buf + sizeof h, "abcde", 5), 0);

  // A control message with cmsg_len 0 is malformed: EINVAL, as Linux.
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  errno = 0;
  EXPECT_EQ(iopkt_sendmsg(fd, &m, 0), -1);
  EXPECT_EQ(errno, EINVAL);
  iopkt_close(fd);
}

// The stack's side writes one datagram from `from` port 53.
void stack_sends(int peer, const std::string& payload, uint32_t flags = 0) {
  iopkt_dgram_hdr h{};
  h.version = IOPKT_DGRAM_VERSION;
  h.hdr_len = sizeof h;
  h.flags = flags;
  h.addr.family = AF_INET6;
  h.addr.port = 53;
  h.addr.addr[0] = 0x20;
  h.addr.addr[1] = 0x01;
  h.addr.addr[2] = 0x0d;
  h.addr.addr[3] = 0xb8;
  h.addr.addr[15] = 1;
  h.payload_len = static_cast<uint32_t>(payload.size());
  iovec iov[2] = {{&h, sizeof h}, {const_cast<char*>(payload.data()), payload.size()}};
  msghdr m{};
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  ASSERT_EQ(sendmsg(peer, &m, 0), static_cast<ssize_t>(sizeof h + payload.size()));
}

TEST_F(SocketTest, RecvfromGivesPayloadAndSender) {
  int fd = make_socket(SOCK_DGRAM);
  stack_sends(peer_, "datagram");
  char buf[64] = {};
  sockaddr_in6 from{};
  socklen_t fromlen = sizeof from;
  ASSERT_EQ(iopkt_recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fromlen),
            8);
  EXPECT_STREQ(buf, "datagram");
  EXPECT_EQ(fromlen, sizeof from);
  EXPECT_EQ(from.sin6_family, AF_INET6);
  EXPECT_EQ(ntohs(from.sin6_port), 53);
  char text[INET6_ADDRSTRLEN];
  EXPECT_STREQ(inet_ntop(AF_INET6, &from.sin6_addr, text, sizeof text), "2001:db8::1");
  iopkt_close(fd);
}

TEST_F(SocketTest, TruncationAsLinux) {
  int fd = make_socket(SOCK_DGRAM);
  stack_sends(peer_, "0123456789");
  stack_sends(peer_, "abcdefghij");
  char buf[4];
  iovec iov{buf, sizeof buf};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  EXPECT_EQ(iopkt_recvmsg(fd, &m, 0), 4);
  EXPECT_NE(m.msg_flags & MSG_TRUNC, 0);
  EXPECT_EQ(memcmp(buf, "0123", 4), 0);
  // With MSG_TRUNC the call returns the datagram's real length.
  m = msghdr{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  EXPECT_EQ(iopkt_recvmsg(fd, &m, MSG_TRUNC), 10);
  EXPECT_NE(m.msg_flags & MSG_TRUNC, 0);
  EXPECT_EQ(memcmp(buf, "abcd", 4), 0);
  iopkt_close(fd);
}

TEST_F(SocketTest, PeekAndDontwaitReachTheKernel) {
  int fd = make_socket(SOCK_DGRAM);
  char buf[16] = {};
  errno = 0;
  EXPECT_EQ(iopkt_recv(fd, buf, sizeof buf, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EAGAIN);
  stack_sends(peer_, "peek");
  EXPECT_EQ(iopkt_recv(fd, buf, sizeof buf, MSG_PEEK), 4);
  memset(buf, 0, sizeof buf);
  EXPECT_EQ(iopkt_recv(fd, buf, sizeof buf, 0), 4);
  EXPECT_STREQ(buf, "peek");
  errno = 0;
  EXPECT_EQ(iopkt_recv(fd, buf, sizeof buf, MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EAGAIN);
  iopkt_close(fd);
}

TEST_F(SocketTest, DeadStackIsEconnresetOnRecvAndEpipeWithoutSignalOnSend) {
  int fd = make_socket(SOCK_DGRAM);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(7);
  inet_pton(AF_INET, "203.0.113.5", &to.sin_addr);
  // A send without an address needs a peer (EDESTADDRREQ otherwise).
  ASSERT_EQ(iopkt_connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  close(peer_);
  peer_ = -1;
  char buf[8];
  errno = 0;
  EXPECT_EQ(iopkt_recv(fd, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, ECONNRESET);
  // SIGPIPE's default would kill the test binary if it were raised.
  errno = 0;
  EXPECT_EQ(iopkt_send(fd, "x", 1, 0), -1);
  EXPECT_EQ(errno, EPIPE);
  iopkt_close(fd);
}

TEST_F(SocketTest, EndOfChannelAfterShutdownReadIsZero) {
  int fd = make_socket(SOCK_DGRAM);
  ASSERT_EQ(iopkt_shutdown(fd, SHUT_RD), 0) << iopkt_last_error();
  std::vector<Request> seen = stack_.requests();
  ASSERT_EQ(seen.back().hdr.type, IOPKT_CTL_SHUTDOWN);
  iopkt_ctl_shutdown req{};
  ASSERT_EQ(seen.back().body.size(), sizeof req);
  memcpy(&req, seen.back().body.data(), sizeof req);
  EXPECT_EQ(req.how, SHUT_RD);
  ::shutdown(peer_, SHUT_WR);  // the stack ends the client's read side
  char buf[8];
  EXPECT_EQ(iopkt_recv(fd, buf, sizeof buf, 0), 0);  // as Linux UDP
  iopkt_close(fd);
}

TEST_F(SocketTest, BadDatagramHeaderIsEproto) {
  int fd = make_socket(SOCK_DGRAM);
  ASSERT_EQ(send(peer_, "tiny", 4, 0), 4);
  char buf[8];
  errno = 0;
  EXPECT_EQ(iopkt_recv(fd, buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, EPROTO);
  iopkt_close(fd);
}

TEST(Registry, FindsALiveInstanceAndRefusesAStaleOne) {
  std::string dir = make_temp_dir();
  setenv("IOPKT_RUNDIR", dir.c_str(), 1);
  std::string path = dir + "/io-pkt.3";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "4321 /tmp/some prefix\n", 22), 22);
  char prefix[64];
  int pid = 0;

  // Nobody holds the lock: a killed instance's leftover.
  errno = 0;
  EXPECT_EQ(iopkt_instance_prefix(3, prefix, sizeof prefix, &pid), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_NE(std::string(iopkt_last_error()).find("stale"), std::string::npos);

  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  ASSERT_EQ(iopkt_instance_prefix(3, prefix, sizeof prefix, &pid), 0) << iopkt_last_error();
  EXPECT_STREQ(prefix, "/tmp/some prefix");
  EXPECT_EQ(pid, 4321);
  errno = 0;
  EXPECT_EQ(iopkt_instance_prefix(3, prefix, 4, &pid), -1);
  EXPECT_EQ(errno, ERANGE);

  // An empty prefix (the default endpoint).
  ASSERT_EQ(ftruncate(fd, 0), 0);
  ASSERT_EQ(pwrite(fd, "77 \n", 4, 0), 4);
  ASSERT_EQ(iopkt_instance_prefix(3, prefix, sizeof prefix, &pid), 0);
  EXPECT_STREQ(prefix, "");
  EXPECT_EQ(pid, 77);

  errno = 0;
  EXPECT_EQ(iopkt_instance_prefix(4, prefix, sizeof prefix, &pid), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_NE(std::string(iopkt_last_error()).find("no io-pkt instance 4"), std::string::npos);
  close(fd);
  unsetenv("IOPKT_RUNDIR");
  remove_tree(dir);
}

}  // namespace
