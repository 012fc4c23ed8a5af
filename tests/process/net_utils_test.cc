// process/net_utils_test.cc — route, netstat, arp and ping (issue 4) as
// programs against real io-pkt instances: two instances joined by a
// devnp-vwire wire (a name of their own per test), 192.0.2.1/24 and
// 192.0.2.2/24 set with ifconfig. Route round trips and NetBSD's error
// messages, netstat's tables showing what was configured and sent, the ARP
// cache after traffic, arp -s/-d, and ping between the instances once the
// stack has raw sockets (skipped while it answers EPROTONOSUPPORT).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "iopkt/iopkt.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ProcessNetUtils : public ProcessTest {
 protected:
  void TearDown() override {
    for (int fd : fds_) {
      iopkt_close(fd);
    }
    iopkt_disconnect();
    unsetenv("SOCK");
    ProcessTest::TearDown();
  }

  // Two v4 instances on one wire, addresses set and up.
  void start_pair() {
    static std::atomic<int> serial{0};
    std::string wire = "nu" + std::to_string(getpid()) + "x" + std::to_string(serial++);
    IoPktRun a = start_instance(4, 1, path("a"), {"-d", "vwire", "wire=" + wire});
    ASSERT_TRUE(a.start.ok()) << a.start.describe();
    IoPktRun b = start_instance(4, 2, path("b"), {"-d", "vwire", "wire=" + wire});
    ASSERT_TRUE(b.start.ok()) << b.start.describe();
    RunResult r = on_a("ifconfig", {"vw0", "192.0.2.1/24", "up"});
    ASSERT_TRUE(r.ok()) << r.describe();
    r = on_b("ifconfig", {"vw0", "192.0.2.2/24", "up"});
    ASSERT_TRUE(r.ok()) << r.describe();
  }

  RunResult on_a(const std::string& util, const std::vector<std::string>& args) {
    return run_util(util, args, {"SOCK=" + path("a")}, Millis(20000));
  }
  RunResult on_b(const std::string& util, const std::vector<std::string>& args) {
    return run_util(util, args, {"SOCK=" + path("b")}, Millis(20000));
  }

  // A UDP socket of this test process on instance `prefix`.
  int udp_socket(const std::string& prefix) {
    setenv("SOCK", prefix.c_str(), 1);
    int fd = iopkt_socket(AF_INET, SOCK_DGRAM, 0);
    if (fd >= 0) {
      fds_.push_back(fd);
    }
    return fd;
  }

  std::vector<int> fds_;
};

TEST_F(ProcessNetUtils, RouteAddGetShowDeleteRoundTrip) {
  ASSERT_NO_FATAL_FAILURE(start_pair());
  RunResult r = on_a("route", {"add", "-net", "198.51.100.0/24", "192.0.2.254"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "add net 198.51.100.0/24: gateway 192.0.2.254\n");
  r = on_a("route", {"add", "default", "192.0.2.254"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "add net default: gateway 192.0.2.254\n");

  r = on_a("route", {"-n", "show"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "Routing tables\n\nInternet:\nDestination")) << r.out;
  EXPECT_TRUE(contains(r.out, "198.51.100/24      192.0.2.254        UGS")) << r.out;
  EXPECT_TRUE(contains(r.out, "default            192.0.2.254        UGS")) << r.out;
  EXPECT_TRUE(contains(r.out, "192.0.2/24         link#")) << r.out;

  r = on_a("route", {"get", "198.51.100.7"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out,
                       "   route to: 198.51.100.7\n"
                       "destination: 198.51.100.0\n"
                       "       mask: 255.255.255.0\n"
                       "    gateway: 192.0.2.254\n"
                       " local addr: 192.0.2.1\n"
                       "  interface: vw0\n"
                       "      flags: <UP,GATEWAY,STATIC>\n"))
      << r.out;
  r = on_a("route", {"get", "203.0.113.7"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "destination: default\n")) << r.out;

  // change: a new gateway on the same subnet.
  r = on_a("route", {"change", "-net", "198.51.100.0/24", "192.0.2.253"});
  ASSERT_TRUE(r.ok()) << r.describe();
  r = on_a("route", {"get", "198.51.100.7"});
  EXPECT_TRUE(contains(r.out, "    gateway: 192.0.2.253\n")) << r.out;

  r = on_a("route", {"delete", "-net", "198.51.100.0/24"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "delete net 198.51.100.0/24\n");
  r = on_a("route", {"-n", "show"});
  EXPECT_FALSE(contains(r.out, "198.51.100")) << r.out;
  r = on_a("netstat", {"-rn"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "default            192.0.2.254        UGS")) << r.out;
}

TEST_F(ProcessNetUtils, RouteErrorsAsNetBSDPrintsThem) {
  ASSERT_NO_FATAL_FAILURE(start_pair());
  RunResult r = on_a("route", {"add", "-net", "198.51.100.0/24", "192.0.2.254"});
  ASSERT_TRUE(r.ok()) << r.describe();
  r = on_a("route", {"add", "-net", "198.51.100.0/24", "192.0.2.254"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.err, "route: writing to routing socket: File exists\n");
  EXPECT_EQ(r.out, "add net 198.51.100.0/24: gateway 192.0.2.254: File exists\n");
  r = on_a("route", {"delete", "-net", "203.0.113.0/24"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.err, "route: writing to routing socket: not in table\n");
  // A gateway no interface reaches.
  r = on_a("route", {"add", "-net", "203.0.113.0/24", "198.18.0.1"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "route: writing to routing socket: ")) << r.err;
  // Nothing routes 203.0.113.7 without a default.
  r = on_a("route", {"get", "203.0.113.7"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_TRUE(contains(r.err, "route: writing to routing socket: ")) << r.err;
  r = on_a("route", {"add", "-inet6", "2001:db8::/32", "2001:db8::1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "not supported yet (IPv6 arrives with its issue)")) << r.err;
  r = on_a("route", {"frob"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "usage: route")) << r.err;
  r = run_util("route", {"show"}, {"SOCK=" + path("nothing")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "route: no io-pkt stack at ")) << r.err;
}

TEST_F(ProcessNetUtils, TrafficShowsInArpNetstatAndCounters) {
  ASSERT_NO_FATAL_FAILURE(start_pair());
  // A server on B, a client on A: the datagram makes A resolve B.
  int server = udp_socket(path("b"));
  ASSERT_GE(server, 0) << iopkt_last_error();
  sockaddr_in any = inet4("0.0.0.0", 7000);
  ASSERT_EQ(iopkt_bind(server, reinterpret_cast<sockaddr*>(&any), sizeof any), 0)
      << iopkt_last_error();
  int client = udp_socket(path("a"));
  ASSERT_GE(client, 0) << iopkt_last_error();
  sockaddr_in local = inet4("192.0.2.1", 7001);
  ASSERT_EQ(iopkt_bind(client, reinterpret_cast<sockaddr*>(&local), sizeof local), 0)
      << iopkt_last_error();
  sockaddr_in to = inet4("192.0.2.2", 7000);
  const char msg[] = "hello over the wire";
  ASSERT_EQ(iopkt_sendto(client, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            static_cast<ssize_t>(sizeof msg))
      << iopkt_last_error();
  timeval tv{10, 0};
  iopkt_setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[64] = {};
  ASSERT_EQ(iopkt_recv(server, buf, sizeof buf, 0), static_cast<ssize_t>(sizeof msg))
      << iopkt_last_error();

  RunResult r;
  ASSERT_TRUE(eventually(
      [&] {
        r = on_a("arp", {"-an"});
        return r.ok() && contains(r.out, "? (192.0.2.2) at ");
      },
      Millis(10000)))
      << r.describe();
  EXPECT_TRUE(contains(r.out, " on vw0 [ethernet]")) << r.out;
  EXPECT_FALSE(contains(r.out, "permanent")) << r.out;
  r = on_a("arp", {"192.0.2.2"});
  EXPECT_TRUE(r.ok()) << r.describe();
  r = on_a("arp", {"192.0.2.77"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "192.0.2.77 (192.0.2.77) -- no entry\n");

  // netstat -an on B: the server with its wildcard address; without -a,
  // NetBSD leaves servers out.
  r = on_b("netstat", {"-an"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "Active Internet connections (including servers)\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "udp        0      0  *.7000                 *.*")) << r.out;
  r = on_a("netstat", {"-an", "-p", "udp"});
  EXPECT_TRUE(contains(r.out, "udp        0      0  192.0.2.1.7001         *.*")) << r.out;
  r = on_b("netstat", {"-n"});
  EXPECT_FALSE(contains(r.out, "*.7000")) << r.out;

  // netstat -i: the interface, its address and packets both ways.
  r = on_a("netstat", {"-i"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "Name  Mtu   Network       Address              Ipkts Ierrs"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "vw0   1500  192.0.2/24    192.0.2.1    ")) << r.out;
  EXPECT_TRUE(contains(r.out, "vw0   1500  <Link>        ")) << r.out;
  r = on_a("netstat", {"-I", "vw0"});
  EXPECT_FALSE(contains(r.out, "lo0")) << r.out;
  r = on_a("netstat", {"-I", "nosuch0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "netstat: nosuch0: unknown interface\n");

  // netstat -s: the datagram counted on both sides, every counter shown.
  r = on_b("netstat", {"-s"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "ip:\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "udp:\n\t1 datagram received\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "bad header checksums\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "arp:\n")) << r.out;
  r = on_a("netstat", {"-s", "-p", "udp"});
  EXPECT_TRUE(contains(r.out, "\t1 datagram output\n")) << r.out;
  EXPECT_FALSE(contains(r.out, "ip:")) << r.out;
  // Every counter of sysctl net.inet.*.stats appears in netstat -s.
  RunResult all = on_b("sysctl", {"net.inet"});
  RunResult st = on_b("netstat", {"-s"});
  int leaves = 0;
  size_t lines = 0;
  for (size_t at = 0; (at = all.out.find(".stats.", at)) != std::string::npos; ++at) {
    ++leaves;
  }
  for (char ch : st.out) {
    lines += ch == '\n' ? 1 : 0;
  }
  EXPECT_GT(leaves, 10);
  EXPECT_GE(lines, static_cast<size_t>(leaves)) << st.out;
}

TEST_F(ProcessNetUtils, ArpSetAndDelete) {
  ASSERT_NO_FATAL_FAILURE(start_pair());
  RunResult r = on_a("arp", {"-s", "192.0.2.9", "02:00:00:00:00:09"});
  ASSERT_TRUE(r.ok()) << r.describe();
  r = on_a("arp", {"-a"});
  EXPECT_TRUE(contains(r.out, "? (192.0.2.9) at 02:00:00:00:00:09 on vw0 permanent [ethernet]"))
      << r.out;
  r = on_a("arp", {"-s", "198.18.0.9", "02:00:00:00:00:09"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  r = on_a("arp", {"-d", "192.0.2.9"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.out, "192.0.2.9 (192.0.2.9) deleted\n");
  r = on_a("arp", {"-d", "192.0.2.9"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "arp: delete: can't locate 192.0.2.9\n");
  ASSERT_TRUE(on_a("arp", {"-s", "192.0.2.10", "02:00:00:00:00:0a"}).ok());
  ASSERT_TRUE(on_a("arp", {"-s", "192.0.2.11", "02:00:00:00:00:0b"}).ok());
  r = on_a("arp", {"-d", "-a"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "192.0.2.10 (192.0.2.10) deleted\n")) << r.out;
  r = on_a("arp", {"-a"});
  EXPECT_EQ(r.out, "") << r.out;
  r = on_a("arp", {});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "usage: arp")) << r.err;
}

// Raw ICMP sockets are the stack's to give; until they exist ping cannot
// run, and says so.
bool raw_sockets_missing(const RunResult& r) {
  return r.exit_code == 1 && contains(r.err, "Cannot create socket: Protocol not supported");
}

TEST_F(ProcessNetUtils, PingBetweenInstances) {
  ASSERT_NO_FATAL_FAILURE(start_pair());
  RunResult r = on_a("ping", {"-c", "3", "-i", "0.2", "192.0.2.2"});
  if (raw_sockets_missing(r)) {
    GTEST_SKIP() << "the stack has no raw ICMP sockets yet: " << r.err;
  }
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "PING 192.0.2.2 (192.0.2.2): 56 data bytes\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "64 bytes from 192.0.2.2: icmp_seq=0 ttl=")) << r.out;
  EXPECT_TRUE(contains(r.out, "icmp_seq=2 ttl=")) << r.out;
  EXPECT_TRUE(contains(r.out,
                       "----192.0.2.2 PING Statistics----\n"
                       "3 packets transmitted, 3 packets received, 0.0% packet loss\n"
                       "round-trip min/avg/max/stddev = "))
      << r.out;
  // -q: the summary only; -s: the payload size in the header line.
  r = on_a("ping", {"-q", "-c", "2", "-i", "0.1", "-s", "100", "192.0.2.2"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.out, "PING 192.0.2.2 (192.0.2.2): 100 data bytes\n")) << r.out;
  EXPECT_FALSE(contains(r.out, "bytes from")) << r.out;
  EXPECT_TRUE(contains(r.out, "2 packets received")) << r.out;
  r = on_a("netstat", {"-s", "-p", "icmp"});
  EXPECT_TRUE(r.ok()) << r.describe();
}

TEST_F(ProcessNetUtils, PingWithoutRouteOrReplies) {
  ASSERT_NO_FATAL_FAILURE(start_pair());
  // No route at all: the stack refuses each send.
  RunResult r = on_a("ping", {"-c", "2", "-i", "0.1", "-W", "200", "203.0.113.7"});
  if (raw_sockets_missing(r)) {
    GTEST_SKIP() << "the stack has no raw ICMP sockets yet: " << r.err;
  }
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_TRUE(contains(r.err, "ping: sendto: ")) << r.err;
  EXPECT_TRUE(contains(r.out, "2 packets transmitted, 0 packets received, 100.0% packet loss\n"))
      << r.out;
  // A silent address on the link: nothing comes back, bounded by -W.
  r = on_a("ping", {"-c", "1", "-W", "300", "192.0.2.99"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_TRUE(contains(r.out, "1 packets transmitted, 0 packets received")) << r.out;
}

TEST_F(ProcessNetUtils, UsageErrors) {
  for (const auto& [util, args] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"route", {}},
           {"netstat", {"-z"}},
           {"arp", {"-s", "192.0.2.1"}},
           {"ping", {}},
           {"ping", {"-c", "0", "192.0.2.2"}},
       }) {
    RunResult r = run_util(util, args, {"SOCK=" + path("none")});
    EXPECT_EQ(r.exit_code, 1) << util << ": " << r.describe();
    EXPECT_FALSE(r.err.empty()) << util;
  }
  RunResult r = run_util("netstat", {"-rn"}, {"SOCK=" + path("none")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "netstat: no io-pkt stack at ")) << r.err;
}

}  // namespace
}  // namespace iopkt::test
