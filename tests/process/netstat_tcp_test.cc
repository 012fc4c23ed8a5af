// process/netstat_tcp_test.cc — netstat against a real io-pkt carrying TCP
// connections that this binary makes with libiopkt over the stack's lo0:
// the rows of netstat -a/-an with their states, addresses and queues
// (NetBSD protopr()), the connections that outlive their sockets
// (FIN_WAIT_2, TIME_WAIT) and the listing's pages over both, the TCP
// counters of netstat -s -p tcp moving, and the pool of netstat -m.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "iopkt/iopkt.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

// "127.0.0.1.PORT", netstat's way of writing an endpoint.
std::string endpoint(const sockaddr_in& sa) {
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
  return std::string(ip) + "." + std::to_string(ntohs(sa.sin_port));
}

// One line of netstat -a, split on blanks.
struct Row {
  std::string proto;
  long long recv_q = -1, send_q = -1;
  std::string local, foreign, state;
};

std::vector<Row> rows_of(const std::string& out) {
  std::vector<Row> rows;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    Row r;
    if (!(f >> r.proto) || (r.proto != "tcp" && r.proto != "udp")) {
      continue;
    }
    f >> r.recv_q >> r.send_q >> r.local >> r.foreign >> r.state;
    rows.push_back(r);
  }
  return rows;
}

const Row* find_row(const std::vector<Row>& rows, const std::string& local,
                    const std::string& foreign) {
  for (const Row& r : rows) {
    if (r.proto == "tcp" && r.local == local && r.foreign == foreign) {
      return &r;
    }
  }
  return nullptr;
}

size_t count_state(const std::vector<Row>& rows, const std::string& state) {
  size_t n = 0;
  for (const Row& r : rows) {
    n += r.proto == "tcp" && r.state == state ? 1 : 0;
  }
  return n;
}

// The number before `words` at the start of a line ("\t3 connection
// requests" -> 3); -1 when no line ends so.
long long counter(const std::string& out, const std::string& words) {
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    size_t at = line.find_first_not_of('\t');
    if (at == std::string::npos) {
      continue;
    }
    char* end = nullptr;
    long long v = std::strtoll(line.c_str() + at, &end, 10);
    if (end != line.c_str() + at && std::string(end) == " " + words) {
      return v;
    }
  }
  return -1;
}

class ProcessNetstatTcp : public ProcessTest {
 protected:
  void SetUp() override {
    ProcessTest::SetUp();
    signal(SIGPIPE, SIG_IGN);
    run_ = start_instance(4, 1, path("a"));
    ASSERT_TRUE(run_.start.ok()) << run_.start.describe();
    setenv("SOCK", path("a").c_str(), 1);
  }
  void TearDown() override {
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
      iopkt_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      iopkt_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return fd;
  }
  void close_fd(int fd) {
    EXPECT_EQ(iopkt_close(fd), 0) << iopkt_last_error();
    std::erase(fds_, fd);
  }
  // A listener on 127.0.0.1 at a port the stack picks.
  int listener(sockaddr_in* addr) {
    int s = tcp_socket();
    EXPECT_GE(s, 0) << iopkt_last_error();
    sockaddr_in any = inet4("127.0.0.1", 0);
    EXPECT_EQ(iopkt_bind(s, as_sa(any), sizeof any), 0) << iopkt_last_error();
    EXPECT_EQ(iopkt_listen(s, 128), 0) << iopkt_last_error();
    socklen_t len = sizeof *addr;
    EXPECT_EQ(iopkt_getsockname(s, as_sa(*addr), &len), 0) << iopkt_last_error();
    return s;
  }
  // A connection to `addr`: {client, server side}; the client's name in
  // *cname.
  std::pair<int, int> connect_to(int lfd, sockaddr_in addr, sockaddr_in* cname) {
    int c = tcp_socket();
    EXPECT_EQ(iopkt_connect(c, as_sa(addr), sizeof addr), 0) << iopkt_last_error();
    int s = iopkt_accept(lfd, nullptr, nullptr);
    EXPECT_GE(s, 0) << strerror(errno) << " " << iopkt_last_error();
    if (s >= 0) {
      fds_.push_back(s);
    }
    socklen_t len = sizeof *cname;
    EXPECT_EQ(iopkt_getsockname(c, as_sa(*cname), &len), 0) << iopkt_last_error();
    return {c, s};
  }
  // Writes on `fd` without blocking until it would block (bounded); the
  // bytes written. Called again while the stack drains the channel, it
  // fills the TCP buffers behind a reader that reads nothing.
  size_t fill(int fd) {
    static const std::string chunk(65536, 'x');
    size_t sent = 0;
    for (int i = 0; i < 64; ++i) {
      ssize_t n = iopkt_send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
      if (n < 0) {
        EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << strerror(errno);
        break;
      }
      sent += static_cast<size_t>(n);
    }
    return sent;
  }
  RunResult netstat(const std::vector<std::string>& args) {
    return run_util("netstat", args, {"SOCK=" + path("a")});
  }
  std::vector<Row> rows(const std::vector<std::string>& args) {
    RunResult r = netstat(args);
    EXPECT_TRUE(r.ok()) << r.describe();
    last_out_ = r.out;
    return rows_of(r.out);
  }
  // SOCKET_LIST straight, all pages: {entries, entries without a socket}.
  std::pair<size_t, size_t> listing() {
    size_t n = 0, orphans = 0;
    uint32_t cursor = 0;
    for (int page = 0; page < 100; ++page) {
      iopkt_ctl_list req{};
      req.cursor = cursor;
      iopkt_ctl_socket_list_reply rep{};
      uint32_t len = sizeof rep;
      if (iopkt_request(IOPKT_CTL_SOCKET_LIST, &req, sizeof req, -1, &rep, &len, nullptr) != 0) {
        ADD_FAILURE() << "SOCKET_LIST: " << iopkt_last_error();
        break;
      }
      n += rep.count;
      for (uint32_t k = 0; k < rep.count; ++k) {
        orphans += rep.sockets[k].no_socket != 0 ? 1 : 0;
      }
      cursor = rep.next_cursor;
      if (cursor == 0) {
        break;
      }
    }
    return {n, orphans};
  }

  IoPktRun run_;
  std::vector<int> fds_;
  std::string last_out_;
};

TEST_F(ProcessNetstatTcp, ListenerAndEstablishedConnectionRows) {
  sockaddr_in addr{};
  int l = listener(&addr);
  ASSERT_NE(addr.sin_port, 0);
  sockaddr_in cname{};
  auto [c, s] = connect_to(l, addr, &cname);
  ASSERT_GE(s, 0);
  // A datagram socket too: NetBSD lists TCP before UDP.
  int u = iopkt_socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  fds_.push_back(u);
  sockaddr_in uaddr = inet4("127.0.0.1", 0);
  ASSERT_EQ(iopkt_bind(u, as_sa(uaddr), sizeof uaddr), 0) << iopkt_last_error();
  // The server reads nothing and the client writes until it would block:
  // once the channel to the server's program is full, TCP's receive buffer
  // holds bytes (Recv-Q), and past the closed window the client's send
  // buffer does (Send-Q). The queues count the bytes in the stack's TCP
  // buffers, not those in the channels to the programs.
  size_t sent = 0;
  std::string server = endpoint(addr), client = endpoint(cname);
  std::vector<Row> rs;
  ASSERT_TRUE(eventually(
      [&] {
        sent += fill(c);
        rs = rows({"-an"});
        const Row* r = find_row(rs, server, client);
        const Row* w = find_row(rs, client, server);
        return r != nullptr && w != nullptr && r->recv_q > 0 && w->send_q > 0;
      },
      Millis(10000)))
      << last_out_;
  EXPECT_EQ(last_out_.rfind("Active Internet connections (including servers)\n", 0), 0u)
      << last_out_;
  const Row* lr = find_row(rs, server, "*.*");
  ASSERT_NE(lr, nullptr) << last_out_;
  EXPECT_EQ(lr->state, "LISTEN");
  EXPECT_EQ(lr->recv_q, 0);
  const Row* cr = find_row(rs, client, server);
  ASSERT_NE(cr, nullptr) << last_out_;
  EXPECT_EQ(cr->state, "ESTABLISHED");
  EXPECT_EQ(cr->recv_q, 0);
  const Row* sr = find_row(rs, server, client);
  EXPECT_EQ(sr->state, "ESTABLISHED");
  EXPECT_EQ(sr->send_q, 0);
  EXPECT_LE(static_cast<size_t>(sr->recv_q + cr->send_q), sent);
  ASSERT_FALSE(rs.empty());
  EXPECT_EQ(rs.front().proto, "tcp") << last_out_;
  EXPECT_EQ(rs.back().proto, "udp") << last_out_;
  EXPECT_EQ(rs.size(), 4u) << last_out_;

  // Without -a the listener is left out, the connections stay.
  rs = rows({"-n"});
  EXPECT_EQ(last_out_.rfind("Active Internet connections\n", 0), 0u) << last_out_;
  EXPECT_EQ(count_state(rs, "LISTEN"), 0u) << last_out_;
  EXPECT_NE(find_row(rs, client, server), nullptr) << last_out_;
  EXPECT_NE(find_row(rs, server, client), nullptr) << last_out_;
  // -p udp: no TCP rows.
  rs = rows({"-an", "-p", "udp"});
  EXPECT_EQ(rs.size(), 1u) << last_out_;
}

TEST_F(ProcessNetstatTcp, ClosedConnectionsStayListedUntilTheyEnd) {
  sockaddr_in addr{};
  int l = listener(&addr);
  sockaddr_in cname{};
  auto [c, s] = connect_to(l, addr, &cname);
  ASSERT_GE(s, 0);
  std::string server = endpoint(addr), client = endpoint(cname);

  // The client closes first: its connection lives on without a socket in
  // FIN_WAIT_2 (the server's ACK came), the server's side in CLOSE_WAIT.
  close_fd(c);
  std::vector<Row> rs;
  auto state_of = [&](const std::string& local, const std::string& foreign) {
    const Row* r = find_row(rs, local, foreign);
    return r == nullptr ? std::string("(none)") : r->state;
  };
  EXPECT_TRUE(eventually(
      [&] {
        rs = rows({"-an"});
        return state_of(client, server) == "FIN_WAIT_2" && state_of(server, client) == "CLOSE_WAIT";
      },
      Millis(10000)))
      << last_out_;
  EXPECT_EQ(listing().second, 1u);

  // The server closes: the client's side waits in TIME_WAIT (2 MSL), the
  // server's is gone once its FIN is acknowledged. Shown without -a too.
  close_fd(s);
  EXPECT_TRUE(eventually(
      [&] {
        rs = rows({"-n"});
        return state_of(client, server) == "TIME_WAIT" && state_of(server, client) == "(none)";
      },
      Millis(10000)))
      << last_out_;
  EXPECT_EQ(listing().second, 1u);
}

TEST_F(ProcessNetstatTcp, PagesCoverSocketsAndConnectionsWithoutOne) {
  // 40 connections whose clients close: 40 server sockets in CLOSE_WAIT,
  // 40 orphans in FIN_WAIT_2 and the listener, more than one page (64).
  constexpr size_t kConns = 40;
  static_assert(2 * kConns + 1 > IOPKT_CTL_SOCKET_LIST_MAX);
  sockaddr_in addr{};
  int l = listener(&addr);
  std::set<std::string> clients;
  for (size_t i = 0; i < kConns; ++i) {
    sockaddr_in cname{};
    auto [c, s] = connect_to(l, addr, &cname);
    ASSERT_GE(s, 0) << i;
    clients.insert(endpoint(cname));
    close_fd(c);
  }
  ASSERT_EQ(clients.size(), kConns);
  std::vector<Row> rs;
  EXPECT_TRUE(eventually(
      [&] {
        rs = rows({"-an"});
        return count_state(rs, "FIN_WAIT_2") == kConns && count_state(rs, "CLOSE_WAIT") == kConns;
      },
      Millis(20000)))
      << last_out_;
  EXPECT_EQ(rs.size(), 2 * kConns + 1) << last_out_;
  // Every connection once on each side: no entry lost or repeated between
  // pages.
  std::set<std::string> seen_fw2, seen_cw;
  std::string server = endpoint(addr);
  for (const Row& r : rs) {
    if (r.state == "FIN_WAIT_2") {
      EXPECT_EQ(r.foreign, server);
      seen_fw2.insert(r.local);
    } else if (r.state == "CLOSE_WAIT") {
      EXPECT_EQ(r.local, server);
      seen_cw.insert(r.foreign);
    }
  }
  EXPECT_EQ(seen_fw2, clients);
  EXPECT_EQ(seen_cw, clients);
  auto [entries, orphans] = listing();
  EXPECT_EQ(entries, 2 * kConns + 1);
  EXPECT_EQ(orphans, kConns);
}

TEST_F(ProcessNetstatTcp, TcpCountersMove) {
  RunResult before = netstat({"-s", "-p", "tcp"});
  ASSERT_TRUE(before.ok()) << before.describe();
  EXPECT_EQ(before.out.rfind("tcp:\n", 0), 0u) << before.out;
  EXPECT_EQ(before.out.find("udp:"), std::string::npos) << before.out;
  EXPECT_EQ(counter(before.out, "connection requests"), 0) << before.out;
  EXPECT_EQ(counter(before.out, "connection accepts"), 0) << before.out;

  sockaddr_in addr{};
  int l = listener(&addr);
  for (int i = 0; i < 2; ++i) {
    sockaddr_in cname{};
    auto [c, s] = connect_to(l, addr, &cname);
    ASSERT_GE(s, 0);
    ASSERT_EQ(iopkt_send(c, "hello", 5, 0), 5);
    char buf[8];
    ASSERT_EQ(iopkt_recv(s, buf, sizeof buf, 0), 5);
  }
  RunResult after;
  EXPECT_TRUE(eventually(
      [&] {
        after = netstat({"-s", "-p", "tcp"});
        return counter(after.out, "connection requests") == 2 &&
               counter(after.out, "connection accepts") == 2;
      },
      Millis(10000)))
      << after.out;
  EXPECT_EQ(counter(after.out, "connections established (including accepts)"), 4) << after.out;
  EXPECT_GT(counter(after.out, "packets sent"), counter(before.out, "packets sent")) << after.out;
  EXPECT_GT(counter(after.out, "packets received"), 0) << after.out;
  // The counters netstat has words for are not repeated under their names.
  EXPECT_EQ(after.out.find(" connattempt\n"), std::string::npos) << after.out;
  EXPECT_EQ(after.out.find(" sndbyte\n"), std::string::npos) << after.out;
  // netstat -s lists TCP among the other protocols.
  RunResult all = netstat({"-s"});
  EXPECT_NE(all.out.find("\ntcp:\n"), std::string::npos) << all.out;
}

TEST_F(ProcessNetstatTcp, MemoryShowsClustersInUse) {
  auto clusters = [&](RunResult* r) {
    *r = netstat({"-m"});
    long long in_use = -1, total = -1;
    std::istringstream lines(r->out);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.find(" mbuf clusters in use (current/total)") != std::string::npos) {
        in_use = std::strtoll(line.c_str(), nullptr, 10);
        total = std::strtoll(line.c_str() + line.find('/') + 1, nullptr, 10);
      }
    }
    return std::make_pair(in_use, total);
  };
  RunResult r;
  auto [base, base_total] = clusters(&r);
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_GE(base, 0) << r.out;
  EXPECT_GE(base_total, base) << r.out;
  EXPECT_NE(r.out.find(" requests for memory denied\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" Kbytes allocated to network ("), std::string::npos) << r.out;

  // Bytes the server does not read hold clusters in the stack once the
  // channel to its program is full.
  sockaddr_in addr{};
  int l = listener(&addr);
  sockaddr_in cname{};
  auto [c, s] = connect_to(l, addr, &cname);
  ASSERT_GE(s, 0);
  long long now = -1, total = -1;
  EXPECT_TRUE(eventually(
      [&] {
        fill(c);
        std::tie(now, total) = clusters(&r);
        return now > base;
      },
      Millis(10000)))
      << "before:" << base << "\n"
      << r.out;
  EXPECT_GE(total, now) << r.out;
  auto v = sysctl_get(path("a"), "kern.mbuf.clusters_total");
  ASSERT_TRUE(v.has_value());
  EXPECT_GE(std::strtoll(v->c_str(), nullptr, 10), total);
}

}  // namespace
}  // namespace iopkt::test
