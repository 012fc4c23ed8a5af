// process/control_test.cc — robustness of the control endpoint
// (include/iopkt/control.h) against a real io-pkt: malformed and truncated
// requests each get an error reply with the errno the protocol promises and
// the connection goes on; descriptors passed with a request are never kept;
// clients that die mid-request, that never read their replies, a thousand
// clients at once and two thousand random requests leave the stack up and
// answering the others.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/process.hh"

namespace iopkt::test {
namespace {

std::vector<uint8_t> header_bytes(uint32_t magic, uint16_t version, uint16_t type, uint32_t seq,
                                  uint32_t len) {
  iopkt_ctl_hdr h{};
  h.magic = magic;
  h.version = version;
  h.type = type;
  h.seq = seq;
  h.len = len;
  std::vector<uint8_t> out(sizeof h);
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

template <typename T>
std::vector<uint8_t> message(uint16_t type, uint32_t seq, const T& body) {
  auto m = header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, type, seq, sizeof body);
  const auto* p = reinterpret_cast<const uint8_t*>(&body);
  m.insert(m.end(), p, p + sizeof body);
  return m;
}

int count_fds(pid_t pid) {
  int n = 0;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      n += e->d_name[0] != '.' ? 1 : 0;
    }
    closedir(d);
  }
  return n;
}

class ProcessControl : public ProcessTest {
 protected:
  void SetUp() override {
    run_ = start_instance(4, 1, path("a"), {}, tcpip_options());
    ASSERT_TRUE(run_.start.ok()) << run_.start.describe();
    signal(SIGPIPE, SIG_IGN);
  }
  virtual std::string tcpip_options() const { return {}; }
  std::string endpoint() const { return endpoint_of(path("a")); }

  // The stack is alive and answers HELLO on a new connection.
  void expect_alive() {
    EXPECT_TRUE(process_alive(run_.pid)) << "io-pkt died";
    auto h = hello(path("a"));
    ASSERT_TRUE(h.has_value()) << "no HELLO reply on a new connection";
    EXPECT_EQ(h->pid, run_.pid);
  }

  // Sends `raw` on `c` and expects one error reply with `err` (echoing
  // `seq` when the header got through), then HELLO on the same connection.
  void expect_error(CtlConn& c, const std::vector<uint8_t>& raw, int err, uint32_t seq,
                    std::span<const int> fds = {}) {
    ASSERT_TRUE(c.send_raw(raw, fds)) << std::strerror(errno);
    auto rep = c.recv_reply();
    ASSERT_TRUE(rep.has_value()) << "no reply (want errno " << err << ")";
    EXPECT_EQ(rep->hdr.magic, IOPKT_CTL_MAGIC);
    EXPECT_EQ(rep->hdr.version, IOPKT_CTL_VERSION);
    EXPECT_EQ(rep->hdr.error, err)
        << "got " << std::strerror(rep->hdr.error) << " (" << rep->message() << ")";
    EXPECT_EQ(rep->hdr.len, rep->body.size());
    if (raw.size() >= sizeof(iopkt_ctl_hdr)) {
      EXPECT_EQ(rep->hdr.seq, seq);
    }
    if (rep->fd >= 0) {
      ADD_FAILURE() << "an error reply carried a descriptor";
      close(rep->fd);
    }
    auto h = c.request(IOPKT_CTL_HELLO);
    ASSERT_TRUE(h.has_value()) << "the connection stopped answering after errno " << err;
    EXPECT_EQ(h->hdr.error, 0);
  }

  // A datagram socket on the stack; its channel fd.
  int make_socket(CtlConn& c) {
    iopkt_ctl_socket s{};
    s.domain = AF_INET;
    s.type = SOCK_DGRAM;
    auto rep = c.request(IOPKT_CTL_SOCKET, bytes_of(s));
    if (!rep || rep->hdr.error != 0) {
      ADD_FAILURE() << "SOCKET failed";
      return -1;
    }
    return rep->fd;
  }

  IoPktRun run_;
};

TEST_F(ProcessControl, WrongMagic) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  expect_error(c, header_bytes(0xdeadbeef, IOPKT_CTL_VERSION, IOPKT_CTL_HELLO, 7, 0), EPROTO, 7);
  expect_alive();
}

TEST_F(ProcessControl, WrongVersion) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  expect_error(c, header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION + 1, IOPKT_CTL_HELLO, 8, 0),
               EPROTONOSUPPORT, 8);
  expect_error(c, header_bytes(IOPKT_CTL_MAGIC, 0, IOPKT_CTL_HELLO, 9, 0), EPROTONOSUPPORT, 9);
  expect_alive();
}

TEST_F(ProcessControl, UnknownType) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  for (uint16_t type : {0, 2, 999, 0xffff}) {
    expect_error(c, header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, type, type + 1u, 0),
                 EOPNOTSUPP, type + 1u);
  }
  expect_alive();
}

TEST_F(ProcessControl, BodySizeWrong) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  // HELLO takes no body.
  auto m = header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_HELLO, 1, 4);
  m.insert(m.end(), {1, 2, 3, 4});
  expect_error(c, m, EINVAL, 1);
  // SYSCTL_GET one byte short, and one byte long.
  iopkt_ctl_sysctl s{};
  std::snprintf(s.name, sizeof s.name, "kern.hostname");
  auto full = message(IOPKT_CTL_SYSCTL_GET, 2, s);
  auto shorter = full;
  shorter.pop_back();
  reinterpret_cast<iopkt_ctl_hdr*>(shorter.data())->len = sizeof s - 1;
  expect_error(c, shorter, EINVAL, 2);
  auto longer = full;
  longer.push_back(0);
  reinterpret_cast<iopkt_ctl_hdr*>(longer.data())->len = sizeof s + 1;
  expect_error(c, longer, EINVAL, 2);
  // `len` disagreeing with what came.
  auto lying = full;
  reinterpret_cast<iopkt_ctl_hdr*>(lying.data())->len = 0;
  expect_error(c, lying, EINVAL, 2);
  // The well-formed one works (so the errors above are about the size).
  ASSERT_TRUE(c.send_raw(full));
  auto rep = c.recv_reply();
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->hdr.error, 0);
  EXPECT_EQ(rep->body.size(), sizeof(iopkt_ctl_sysctl));
  expect_alive();
}

TEST_F(ProcessControl, TruncatedHeader) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  auto h = header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_HELLO, 3, 0);
  for (size_t n : {5u, 1u, 23u}) {
    expect_error(c, std::vector<uint8_t>(h.begin(), h.begin() + n), EPROTO, 3);
  }
  expect_alive();
}

TEST_F(ProcessControl, EmptyMessageDoesNotHurtTheStack) {
  // A zero-length SEQPACKET message reads like end of file: the stack may
  // answer or drop the connection, but must stay up.
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send_raw({}));
  (void)c.recv_reply(Millis(500));
  expect_alive();
}

TEST_F(ProcessControl, RequestLargerThanRecvCtxt) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  // Default recv_ctxt is 65536.
  auto m = header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_HELLO, 4, 70000);
  m.resize(m.size() + 70000, 0x5a);
  expect_error(c, m, EMSGSIZE, 4);
  expect_alive();
}

class ProcessSmallRecvCtxt : public ProcessControl {
 protected:
  std::string tcpip_options() const override { return "recv_ctxt=4096"; }
};

TEST_F(ProcessSmallRecvCtxt, RequestLargerThanRecvCtxt) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  // A valid MOUNT is 1536 bytes + header: fits. An IF_LIST-sized oddity of
  // 5000 bytes does not.
  auto m = header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_SYSCTL_SET, 5, 5000);
  m.resize(m.size() + 5000, 0);
  expect_error(c, m, EMSGSIZE, 5);
  iopkt_ctl_sysctl s{};
  std::snprintf(s.name, sizeof s.name, "kern.hostname");
  auto rep = c.request(IOPKT_CTL_SYSCTL_GET, bytes_of(s));
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->hdr.error, 0);
  expect_alive();
}

TEST_F(ProcessControl, UnterminatedStrings) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  iopkt_ctl_sysctl s;
  std::memset(&s, 'a', sizeof s);
  expect_error(c, message(IOPKT_CTL_SYSCTL_GET, 10, s), EINVAL, 10);
  iopkt_ctl_if_flags f;
  std::memset(&f, 'b', sizeof f);
  expect_error(c, message(IOPKT_CTL_IF_SETFLAGS, 11, f), EINVAL, 11);
  iopkt_ctl_mount m;
  std::memset(&m, 'c', sizeof m);
  expect_error(c, message(IOPKT_CTL_MOUNT, 12, m), EINVAL, 12);
  iopkt_ctl_list l;
  std::memset(&l, 'd', sizeof l);
  expect_error(c, message(IOPKT_CTL_IF_LIST, 13, l), EINVAL, 13);
  expect_alive();
}

TEST_F(ProcessControl, PerSocketRequestWithoutDescriptor) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  expect_error(c, header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_GETSOCKNAME, 20, 0),
               EBADF, 20);
  iopkt_ctl_sockaddr a{};
  a.addr.family = AF_INET;
  expect_error(c, message(IOPKT_CTL_BIND, 21, a), EBADF, 21);
  expect_alive();
}

TEST_F(ProcessControl, PerSocketRequestWithForeignDescriptor) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto getsockname = header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_GETSOCKNAME, 22, 0);
  expect_error(c, getsockname, ENOTSOCK, 22, std::span<const int>(p, 1));
  // A socket, but not one of the stack's channels.
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
  expect_error(c, getsockname, ENOTSOCK, 22, std::span<const int>(sp, 1));
  // The control connection itself is not a stack socket either.
  int self = c.fd();
  expect_error(c, getsockname, ENOTSOCK, 22, std::span<const int>(&self, 1));
  // A real channel works (so the errors above are about the descriptor).
  int ch = make_socket(c);
  ASSERT_GE(ch, 0);
  auto rep = c.request(IOPKT_CTL_GETSOCKNAME, {}, std::span<const int>(&ch, 1));
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->hdr.error, 0);
  EXPECT_EQ(rep->body.size(), sizeof(iopkt_ctl_sockaddr));
  // ...also over another connection of the same client (the channel, not
  // the connection, names the socket).
  CtlConn other(endpoint());
  rep = other.request(IOPKT_CTL_GETSOCKNAME, {}, std::span<const int>(&ch, 1));
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->hdr.error, 0);
  close(ch);
  close(p[0]);
  close(p[1]);
  close(sp[0]);
  close(sp[1]);
  expect_alive();
}

TEST_F(ProcessControl, SeveralDescriptorsAreAllClosedByTheStack) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  // Eight pipes; the read ends go to the stack (more than it reads at once).
  constexpr int kPipes = 8;
  int rd[kPipes], wr[kPipes];
  for (int i = 0; i < kPipes; ++i) {
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    rd[i] = p[0];
    wr[i] = p[1];
  }
  // Counted once the stack has accepted this connection (a reply proves it).
  ASSERT_TRUE(c.request(IOPKT_CTL_HELLO));
  int before = count_fds(run_.pid);
  ASSERT_TRUE(c.send_request(IOPKT_CTL_HELLO, {}, 30, std::span<const int>(rd, kPipes)));
  auto rep = c.recv_reply();
  ASSERT_TRUE(rep) << "no reply to a request with " << kPipes << " descriptors";
  EXPECT_EQ(rep->hdr.seq, 30u);
  for (int i = 0; i < kPipes; ++i) {
    close(rd[i]);
  }
  // With our read ends closed, a write end polls POLLERR only once the stack
  // closed its copies as well.
  bool all_closed = eventually(
      [&] {
        for (int i = 0; i < kPipes; ++i) {
          pollfd p{wr[i], POLLOUT, 0};
          if (poll(&p, 1, 0) != 1 || !(p.revents & POLLERR)) {
            return false;
          }
        }
        return true;
      },
      Millis(2000));
  EXPECT_TRUE(all_closed) << "the stack kept a descriptor passed with a request";
  EXPECT_LE(count_fds(run_.pid), before) << "the stack's descriptor count grew";
  for (int i = 0; i < kPipes; ++i) {
    close(wr[i]);
  }
  // The same with a per-socket request: the first is a pipe.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  int ch = make_socket(c);
  ASSERT_GE(ch, 0);
  int fds[2] = {p[0], ch};
  expect_error(c, header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_GETSOCKNAME, 31, 0),
               ENOTSOCK, 31, fds);
  close(p[0]);
  close(p[1]);
  close(ch);
  expect_alive();
}

TEST_F(ProcessControl, ClientsThatDieMidRequest) {
  const std::string ep = endpoint();
  int before = count_fds(run_.pid);
  // Each child: 0 connects and leaves; 1 sends HELLO and leaves without the
  // reply; 2 asks for a socket (the reply carries a descriptor) and leaves;
  // 3 sends half of a header and leaves; 4 is killed while blocked on a
  // reply it never asked for.
  constexpr int kChildren = 40;
  std::vector<pid_t> kids;
  for (int i = 0; i < kChildren; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      CtlConn c(ep);
      if (!c.connected()) {
        _exit(2);
      }
      switch (i % 5) {
        case 0:
          break;
        case 1:
          c.send_request(IOPKT_CTL_HELLO, {}, 1);
          break;
        case 2: {
          iopkt_ctl_socket s{};
          s.domain = AF_INET;
          s.type = SOCK_DGRAM;
          c.send_request(IOPKT_CTL_SOCKET, bytes_of(s), 2);
          break;
        }
        case 3: {
          auto h = header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_HELLO, 3, 0);
          c.send_raw(std::span<const uint8_t>(h.data(), h.size() / 2));
          break;
        }
        case 4: {
          char b;
          pollfd p{c.fd(), POLLIN, 0};
          poll(&p, 1, 10000);  // killed meanwhile
          (void)recv(c.fd(), &b, 1, MSG_DONTWAIT);
          break;
        }
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (size_t i = 0; i < kids.size(); ++i) {
    if (i % 5 == 4) {
      kill(kids[i], SIGKILL);
    }
  }
  for (pid_t k : kids) {
    auto st = wait_child(k, Millis(10000));
    if (!st) {
      kill(k, SIGKILL);
      wait_child(k, Millis(2000));
      ADD_FAILURE() << "child " << k << " hung";
    } else if (WIFEXITED(*st)) {
      EXPECT_EQ(WEXITSTATUS(*st), 0) << "a child could not connect";
    }
  }
  expect_alive();
  // Sessions and channels of the dead clients are released.
  EXPECT_TRUE(eventually([&] { return count_fds(run_.pid) <= before + 1; }, Millis(5000)))
      << "fds before " << before << ", now " << count_fds(run_.pid);
}

TEST_F(ProcessControl, ClientThatNeverReadsItsReplies) {
  CtlConn greedy(endpoint());
  ASSERT_TRUE(greedy.connected());
  // Fill both directions: requests until the socket refuses more.
  int sent = 0;
  auto h = header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_HELLO, 0, 0);
  auto t0 = std::chrono::steady_clock::now();
  for (; sent < 100000 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10);
       ++sent) {
    if (send(greedy.fd(), h.data(), h.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
      if (errno != EAGAIN) {
        break;  // the stack dropped us: fine
      }
      // Give the stack a moment to drain, then stop once it no longer does.
      pollfd p{greedy.fd(), POLLOUT, 0};
      if (poll(&p, 1, 200) != 1) {
        break;
      }
    }
  }
  EXPECT_GT(sent, 100);
  // Meanwhile others are served.
  auto t1 = std::chrono::steady_clock::now();
  expect_alive();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(2));
}

TEST_F(ProcessControl, AThousandClientsAtOnce) {
  constexpr int kClients = 1000;
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < kClients + 100) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, kClients + 200);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  ASSERT_GE(rl.rlim_cur, static_cast<rlim_t>(kClients + 100)) << "hard descriptor limit too low";
  int before = count_fds(run_.pid);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", endpoint().c_str());
  std::vector<int> fds;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kClients; ++i) {
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0) << "socket " << i << ": " << std::strerror(errno);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0)
        << "client " << i << ": " << std::strerror(errno);
    fds.push_back(fd);
  }
  // All connected; now every one asks at once.
  for (int i = 0; i < kClients; ++i) {
    auto h = header_bytes(IOPKT_CTL_MAGIC, IOPKT_CTL_VERSION, IOPKT_CTL_HELLO,
                          static_cast<uint32_t>(i + 1), 0);
    ASSERT_EQ(send(fds[i], h.data(), h.size(), MSG_NOSIGNAL), static_cast<ssize_t>(h.size()))
        << "client " << i;
  }
  std::vector<bool> answered(kClients, false);
  int left = kClients;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::vector<pollfd> pfds(kClients);
  while (left > 0 && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < kClients; ++i) {
      pfds[i] = {answered[i] ? -1 : fds[i], POLLIN, 0};
    }
    int n = poll(pfds.data(), pfds.size(), 1000);
    ASSERT_GE(n, 0);
    for (int i = 0; i < kClients && n > 0; ++i) {
      if (pfds[i].revents == 0) {
        continue;
      }
      --n;
      uint8_t buf[sizeof(iopkt_ctl_hdr) + sizeof(iopkt_ctl_hello_reply) + 16];
      ssize_t got = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
      ASSERT_EQ(got, static_cast<ssize_t>(sizeof(iopkt_ctl_hdr) + sizeof(iopkt_ctl_hello_reply)))
          << "client " << i << " revents " << pfds[i].revents;
      iopkt_ctl_hdr rh;
      std::memcpy(&rh, buf, sizeof rh);
      EXPECT_EQ(rh.seq, static_cast<uint32_t>(i + 1));
      EXPECT_EQ(rh.error, 0);
      iopkt_ctl_hello_reply hr;
      std::memcpy(&hr, buf + sizeof rh, sizeof hr);
      EXPECT_EQ(hr.pid, run_.pid);
      answered[i] = true;
      --left;
    }
  }
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(left, 0) << left << " of " << kClients << " clients got no reply within 30 s";
  RecordProperty("thousand_clients_ms",
                 static_cast<int>(std::chrono::duration_cast<Millis>(took).count()));
  expect_alive();
  for (int fd : fds) {
    close(fd);
  }
  expect_alive();
  EXPECT_TRUE(eventually([&] { return count_fds(run_.pid) <= before + 1; }, Millis(5000)))
      << "fds before " << before << ", now " << count_fds(run_.pid);
}

TEST_F(ProcessControl, TwoThousandRandomRequests) {
  CtlConn c(endpoint());
  ASSERT_TRUE(c.connected());
  std::mt19937 rng(20240531);  // fixed: a failure repeats
  const uint16_t kTypes[] = {IOPKT_CTL_HELLO,
                             IOPKT_CTL_SOCKET,
                             IOPKT_CTL_BIND,
                             IOPKT_CTL_CONNECT,
                             IOPKT_CTL_GETSOCKNAME,
                             IOPKT_CTL_GETPEERNAME,
                             IOPKT_CTL_SETSOCKOPT,
                             IOPKT_CTL_GETSOCKOPT,
                             IOPKT_CTL_SHUTDOWN,
                             IOPKT_CTL_IF_LIST,
                             IOPKT_CTL_IFADDR_LIST,
                             IOPKT_CTL_IF_SETFLAGS,
                             IOPKT_CTL_IF_SETMTU,
                             IOPKT_CTL_IFADDR_ADD,
                             IOPKT_CTL_IFADDR_DEL,
                             IOPKT_CTL_IF_CREATE,
                             IOPKT_CTL_SYSCTL_GET,
                             IOPKT_CTL_SYSCTL_SET,
                             IOPKT_CTL_SYSCTL_LIST,
                             IOPKT_CTL_MOUNT,
                             7,
                             12345};
  // Body sizes the stack expects, so that many requests get past the size
  // check into the handlers.
  const size_t kSizes[] = {0,
                           sizeof(iopkt_ctl_socket),
                           sizeof(iopkt_ctl_sockaddr),
                           sizeof(iopkt_ctl_sockopt),
                           sizeof(iopkt_ctl_shutdown),
                           sizeof(iopkt_ctl_list),
                           sizeof(iopkt_ctl_if_flags),
                           sizeof(iopkt_ctl_if_mtu),
                           sizeof(iopkt_ctl_ifaddr),
                           sizeof(iopkt_ctl_if_name),
                           sizeof(iopkt_ctl_sysctl),
                           sizeof(iopkt_ctl_mount)};
  int ch = make_socket(c);  // a real channel, passed with some requests
  ASSERT_GE(ch, 0);
  int answered = 0;
  for (uint32_t i = 0; i < 2000; ++i) {
    uint16_t type = kTypes[rng() % std::size(kTypes)];
    size_t len = rng() % 4 == 0 ? rng() % 700 : kSizes[rng() % std::size(kSizes)];
    std::vector<uint8_t> body(len);
    for (auto& b : body) {
      // Mostly zeros and small values (NUL-terminated strings, plausible
      // enums), sometimes anything.
      uint32_t r = rng();
      b = r % 3 == 0 ? static_cast<uint8_t>(r >> 8) : r % 3 == 1 ? 0 : static_cast<uint8_t>(r % 8);
    }
    // Names in the bodies are mostly empty or short random strings, so
    // they never spell lo0 or a real sysctl: the loop changes nothing.
    uint32_t magic = rng() % 10 == 0 ? rng() : IOPKT_CTL_MAGIC;
    uint16_t version = rng() % 10 == 0 ? static_cast<uint16_t>(rng()) : IOPKT_CTL_VERSION;
    uint32_t hdr_len = rng() % 10 == 0 ? rng() % 1000 : static_cast<uint32_t>(len);
    auto msg = header_bytes(magic, version, type, i + 1000, hdr_len);
    msg.insert(msg.end(), body.begin(), body.end());
    if (rng() % 20 == 0) {
      msg.resize(1 + rng() % msg.size());  // truncated anywhere
    }
    bool pass_fd = rng() % 4 == 0;
    ASSERT_TRUE(c.send_raw(msg, pass_fd ? std::span<const int>(&ch, 1) : std::span<const int>()))
        << "request " << i << ": " << std::strerror(errno);
    auto rep = c.recv_reply();
    ASSERT_TRUE(rep.has_value()) << "no reply to random request " << i << " (type " << type << ", "
                                 << msg.size() << " bytes)";
    ++answered;
    EXPECT_EQ(rep->hdr.magic, IOPKT_CTL_MAGIC);
    if (msg.size() >= sizeof(iopkt_ctl_hdr)) {
      EXPECT_EQ(rep->hdr.seq, i + 1000);
      EXPECT_EQ(rep->hdr.type, type);
    }
    EXPECT_GE(rep->hdr.error, 0);
    EXPECT_LT(rep->hdr.error, 4096);
    EXPECT_EQ(rep->hdr.len, rep->body.size());
    if (rep->fd >= 0) {
      close(rep->fd);  // a SOCKET that happened to be valid
    }
  }
  EXPECT_EQ(answered, 2000);
  auto h = c.request(IOPKT_CTL_HELLO);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->hdr.error, 0);
  close(ch);
  expect_alive();
  // lo0 is still there with its address.
  auto ifs = if_list(path("a"));
  ASSERT_TRUE(ifs);
  EXPECT_NE(find_if(*ifs, "lo0"), nullptr);
}

}  // namespace
}  // namespace iopkt::test
