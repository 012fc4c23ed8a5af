// process/tcp_close_test.cc — closing TCP sockets at the pace of the crr
// benchmark (issue 8): a program's write-then-close reaches TCP as the
// bytes and then the FIN at once; a client's close after the end of file
// frees its socket and port at once.
//
// The stack's end of a TCP socket's channel leaves the epoll set once the
// client hangs up. When the last bytes and the hang-up were there together,
// the stack read the bytes and stopped at the short read; the end of file
// (the close, so the FIN) waited for TCP's next wake-up: the peer's ACK of
// those bytes, delayed by the peer's delayed-ACK timer (40 ms). Every
// HTTP/1.0-style answer-then-close paid it.
//
// The test makes "bytes and hang-up in one wake-up" certain rather than
// likely: the instance is stopped (SIGSTOP) while the server side writes
// and closes, then continued. Over lo0 the client's stack holds its ACK of
// the byte on the delayed-ACK timer; a FIN sent at once is acknowledged at
// once (RFC 9293 §3.10.7.4, eighth step) and the timer never fires, so the
// stack's `delack` counter tells the two outcomes apart without timing.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "iopkt/iopkt.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

// The state letter of /proc/PID/stat ('T' when stopped), or 0.
char proc_state(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  auto at = line.rfind(')');
  return at != std::string::npos && at + 2 < line.size() ? line[at + 2] : 0;
}

class ProcessTcpClose : public ProcessTest {
 protected:
  void SetUp() override {
    ProcessTest::SetUp();
    signal(SIGPIPE, SIG_IGN);
  }
  void TearDown() override {
    if (run_.pid > 0) {
      kill(run_.pid, SIGCONT);  // never leave it stopped
    }
    for (int fd : fds_) {
      iopkt_close(fd);
    }
    iopkt_disconnect();
    unsetenv("SOCK");
    ProcessTest::TearDown();
  }
  int tcp_socket() {
    int fd = iopkt_socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) {
      fds_.push_back(fd);
      timeval tv{20, 0};  // bound every blocking wait of the test
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
  }
  uint64_t tcp_stat(const std::string& name) {
    auto v = sysctl_get(path("a"), "net.inet.tcp.stats." + name);
    EXPECT_TRUE(v.has_value()) << name;
    return v ? std::stoull(*v) : 0;
  }

  IoPktRun run_;
  std::vector<int> fds_;
};

TEST_F(ProcessTcpClose, WriteThenCloseSendsTheFinWithoutWaitingForTheAck) {
  run_ = start_instance(4, 1, path("a"));
  ASSERT_TRUE(run_.start.ok()) << run_.start.describe();
  ASSERT_GT(run_.pid, 0);
  setenv("SOCK", path("a").c_str(), 1);

  int l = tcp_socket();
  ASSERT_GE(l, 0) << iopkt_last_error();
  sockaddr_in addr = inet4("127.0.0.1", 0);
  ASSERT_EQ(iopkt_bind(l, as_sa(addr), sizeof addr), 0) << iopkt_last_error();
  ASSERT_EQ(iopkt_listen(l, 4), 0) << iopkt_last_error();
  socklen_t len = sizeof addr;
  ASSERT_EQ(iopkt_getsockname(l, as_sa(addr), &len), 0) << iopkt_last_error();
  int c = tcp_socket();
  ASSERT_GE(c, 0) << iopkt_last_error();
  ASSERT_EQ(iopkt_connect(c, as_sa(addr), sizeof addr), 0) << iopkt_last_error();
  int s = iopkt_accept(l, nullptr, nullptr);
  ASSERT_GE(s, 0) << strerror(errno) << " " << iopkt_last_error();
  uint64_t delack_before = tcp_stat("delack");

  // The answer and the close reach the stack's end of the channel together.
  ASSERT_EQ(kill(run_.pid, SIGSTOP), 0) << strerror(errno);
  ASSERT_TRUE(eventually([&] { return proc_state(run_.pid) == 'T'; }, Millis(5000)));
  ASSERT_EQ(iopkt_send(s, "x", 1, MSG_NOSIGNAL), 1) << strerror(errno);
  ASSERT_EQ(iopkt_close(s), 0) << strerror(errno);
  ASSERT_EQ(kill(run_.pid, SIGCONT), 0) << strerror(errno);

  char buf[4] = {};
  ASSERT_EQ(iopkt_recv(c, buf, sizeof buf, 0), 1) << strerror(errno);
  EXPECT_EQ(buf[0], 'x');
  EXPECT_EQ(iopkt_recv(c, buf, sizeof buf, 0), 0) << "no end of file: " << strerror(errno);
  EXPECT_EQ(tcp_stat("delack"), delack_before)
      << "the FIN waited for the delayed ACK of the answer";
}

// The client reads the end of file, then closes: from the stack's end of
// the channel that close looks like a shutdown both ways (its own end is
// shut already), and the socket waited for the once-a-second sweep, its
// port with it: a client opening thousands of connections a second ran out
// of ports. Now its port is free as soon as the stack has seen the close:
// the bind below is served after it (the hang-up came first in the stack's
// epoll, and it is served in order).
TEST_F(ProcessTcpClose, ClientClosingAfterTheEndOfFileFreesItsPortAtOnce) {
  run_ = start_instance(4, 1, path("a"));
  ASSERT_TRUE(run_.start.ok()) << run_.start.describe();
  setenv("SOCK", path("a").c_str(), 1);

  int l = tcp_socket();
  ASSERT_GE(l, 0) << iopkt_last_error();
  sockaddr_in addr = inet4("127.0.0.1", 0);
  ASSERT_EQ(iopkt_bind(l, as_sa(addr), sizeof addr), 0) << iopkt_last_error();
  ASSERT_EQ(iopkt_listen(l, 4), 0) << iopkt_last_error();
  socklen_t len = sizeof addr;
  ASSERT_EQ(iopkt_getsockname(l, as_sa(addr), &len), 0) << iopkt_last_error();

  for (int round = 0; round < 3; ++round) {
    int c = tcp_socket();
    ASSERT_GE(c, 0) << iopkt_last_error();
    sockaddr_in mine = inet4("127.0.0.1", 0);
    ASSERT_EQ(iopkt_bind(c, as_sa(mine), sizeof mine), 0) << iopkt_last_error();
    len = sizeof mine;
    ASSERT_EQ(iopkt_getsockname(c, as_sa(mine), &len), 0) << iopkt_last_error();
    ASSERT_EQ(iopkt_connect(c, as_sa(addr), sizeof addr), 0) << iopkt_last_error();
    int s = iopkt_accept(l, nullptr, nullptr);
    ASSERT_GE(s, 0) << strerror(errno) << " " << iopkt_last_error();
    ASSERT_EQ(iopkt_close(s), 0);  // the server closes first (TIME-WAIT on its side)
    std::erase(fds_, s);
    char buf[4];
    ASSERT_EQ(iopkt_recv(c, buf, sizeof buf, 0), 0) << "no end of file: " << strerror(errno);
    ASSERT_EQ(iopkt_close(c), 0);
    std::erase(fds_, c);

    int again = tcp_socket();
    ASSERT_GE(again, 0) << iopkt_last_error();
    EXPECT_EQ(iopkt_bind(again, as_sa(mine), sizeof mine), 0)
        << "round " << round << ": port " << ntohs(mine.sin_port)
        << " still held by the closed socket: " << iopkt_last_error();
    ASSERT_EQ(iopkt_close(again), 0);
    std::erase(fds_, again);
  }
}

}  // namespace
}  // namespace iopkt::test
