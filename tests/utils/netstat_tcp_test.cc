// tests/utils/netstat_tcp_test.cc — netstat's TCP and mbuf displays
// (client/libiopkt/fmt.cc) with fixed inputs, without a stack: the state
// column of netstat -a, which sockets are left out without -a, the
// counters of netstat -s -p tcp in NetBSD's words (pairs of counters on one
// line, plurals of both, counters the format does not know yet) and
// netstat -m from kern.mbuf.*.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "client/libiopkt/fmt.hh"
#include "iopkt/control.h"

namespace iopkt::fmt {
namespace {

iopkt_ctl_addr v4(const char* text, uint16_t port = 0) {
  iopkt_ctl_addr a{};
  a.family = AF_INET;
  a.port = port;
  EXPECT_EQ(inet_pton(AF_INET, text, a.addr), 1) << text;
  return a;
}

iopkt_ctl_socket_info tcp(const char* laddr, uint16_t lport, const char* faddr, uint16_t fport,
                          uint32_t state) {
  iopkt_ctl_socket_info s{};
  s.domain = AF_INET;
  s.type = SOCK_STREAM;
  s.protocol = IPPROTO_TCP;
  s.state = state;
  s.laddr = v4(laddr, lport);
  s.faddr = v4(faddr, fport);
  return s;
}

iopkt_ctl_sysctl leaf(const std::string& name, const std::string& value) {
  iopkt_ctl_sysctl e{};
  query::copy_name(e.name, name);
  query::copy_name(e.value, value);
  e.type = IOPKT_SYSCTL_INT;
  return e;
}

// BSD's TCPS_* numbers (netinet/tcp_fsm.h), which the stack sends.
constexpr uint32_t kListen = 1, kSynSent = 2, kEstablished = 4, kFinWait2 = 9, kTimeWait = 10;

TEST(NetstatTcp, StateNamesFollowBsdNumbering) {
  const char* want[] = {"CLOSED",      "LISTEN",     "SYN_SENT",   "SYN_RCVD",
                        "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "CLOSING",
                        "LAST_ACK",    "FIN_WAIT_2", "TIME_WAIT"};
  for (uint32_t k = 0; k < 11; ++k) {
    EXPECT_EQ(netstat_tcp_state(k), want[k]) << k;
  }
  // A state this netstat does not know shows as its number, as NetBSD's.
  EXPECT_EQ(netstat_tcp_state(11), "11");
  EXPECT_EQ(netstat_tcp_state(0xffffffffu), "4294967295");
}

TEST(NetstatTcp, LinesCarryQueuesAddressesAndState) {
  iopkt_ctl_socket_info s = tcp("127.0.0.1", 7000, "127.0.0.1", 50123, kEstablished);
  s.rcv_cc = 12;
  s.snd_cc = 3456;
  EXPECT_EQ(netstat_proto(s), "tcp");
  EXPECT_EQ(netstat_socket_line(s),
            "tcp       12   3456  127.0.0.1.7000         127.0.0.1.50123        ESTABLISHED\n");
  // The header's State column starts where the state does.
  std::string header = netstat_socket_header(true);
  std::string line = netstat_socket_line(s);
  EXPECT_EQ(header.find("State") - header.find("Proto"), line.find("ESTABLISHED"));

  iopkt_ctl_socket_info l = tcp("0.0.0.0", 22, "0.0.0.0", 0, kListen);
  EXPECT_EQ(netstat_socket_line(l),
            "tcp        0      0  *.22                   *.*                    LISTEN\n");
  iopkt_ctl_socket_info t = tcp("192.0.2.1", 50000, "192.0.2.2", 80, kTimeWait);
  EXPECT_EQ(netstat_socket_line(t),
            "tcp        0      0  192.0.2.1.50000        192.0.2.2.80           TIME_WAIT\n");
  // A state field on a datagram socket is not a TCP state: no column.
  iopkt_ctl_socket_info u = t;
  u.type = SOCK_DGRAM;
  EXPECT_EQ(netstat_socket_line(u), "udp        0      0  192.0.2.1.50000        192.0.2.2.80\n");
}

TEST(NetstatTcp, WithoutAllServersAreLeftOut) {
  iopkt_ctl_socket_info wild = tcp("0.0.0.0", 22, "0.0.0.0", 0, kListen);
  iopkt_ctl_socket_info bound_listener = tcp("127.0.0.1", 80, "0.0.0.0", 0, kListen);
  iopkt_ctl_socket_info est = tcp("127.0.0.1", 80, "127.0.0.1", 50000, kEstablished);
  iopkt_ctl_socket_info syn = tcp("127.0.0.1", 50001, "127.0.0.1", 81, kSynSent);
  iopkt_ctl_socket_info fw2 = tcp("127.0.0.1", 50002, "127.0.0.1", 80, kFinWait2);
  for (const auto& s : {wild, bound_listener, est, syn, fw2}) {
    EXPECT_TRUE(netstat_socket_shown(s, true));
  }
  EXPECT_FALSE(netstat_socket_shown(wild, false));
  EXPECT_FALSE(netstat_socket_shown(bound_listener, false)) << "a listener on one address";
  EXPECT_TRUE(netstat_socket_shown(est, false));
  EXPECT_TRUE(netstat_socket_shown(syn, false));
  EXPECT_TRUE(netstat_socket_shown(fw2, false));
  // Datagram sockets: only the wildcard rule (state 1 means nothing there).
  iopkt_ctl_socket_info udp = bound_listener;
  udp.type = SOCK_DGRAM;
  EXPECT_TRUE(netstat_socket_shown(udp, false));
}

TEST(NetstatTcp, ArgsTakeMemoryAndTcp) {
  NetstatOptions o;
  std::string err;
  ASSERT_TRUE(parse_netstat_args({"-m"}, &o, &err)) << err;
  EXPECT_TRUE(o.mbufs);
  EXPECT_FALSE(o.stats);
  ASSERT_TRUE(parse_netstat_args({"-s", "-p", "tcp"}, &o, &err)) << err;
  EXPECT_TRUE(o.stats);
  EXPECT_FALSE(o.mbufs);
  EXPECT_EQ(o.protocol, "tcp");
  EXPECT_NE(std::string(kNetstatUsage).find("netstat -m"), std::string::npos);
}

TEST(NetstatTcp, TcpIsASectionOfStats) {
  bool found = false;
  for (const StatsSection& s : netstat_stats_sections()) {
    if (std::string(s.name) == "tcp") {
      found = true;
      EXPECT_STREQ(s.prefix, "net.inet.tcp.stats.");
    }
  }
  EXPECT_TRUE(found);
}

constexpr const char* kTcp = "net.inet.tcp.stats.";

TEST(NetstatTcp, CountersInNetbsdWordsWithPairs) {
  std::vector<iopkt_ctl_sysctl> e = {
      leaf("net.inet.tcp.stats.connattempt", "2"),
      leaf("net.inet.tcp.stats.accepts", "1"),
      leaf("net.inet.tcp.stats.connects", "3"),
      leaf("net.inet.tcp.stats.drops", "1"),
      leaf("net.inet.tcp.stats.closed", "4"),
      leaf("net.inet.tcp.stats.sndtotal", "10"),
      leaf("net.inet.tcp.stats.sndpack", "1"),
      leaf("net.inet.tcp.stats.sndbyte", "1"),
      leaf("net.inet.tcp.stats.sndrexmitpack", "2"),
      leaf("net.inet.tcp.stats.sndrexmitbyte", "2920"),
      leaf("net.inet.tcp.stats.rcvtotal", "9"),
      leaf("net.inet.tcp.stats.rcvackpack", "1"),
      leaf("net.inet.tcp.stats.rcvackbyte", "100"),
      leaf("net.inet.tcp.stats.rcvdupack", "1"),
      leaf("net.inet.tcp.stats.challengeack", "5"),
      leaf("net.inet.tcp.stats.sack_recovery_episode", "1"),
      leaf("net.inet.ip.stats.total", "77"),  // another protocol's: not here
  };
  EXPECT_EQ(netstat_proto_stats("tcp", kTcp, e, false),
            "tcp:\n"
            "\t10 packets sent\n"
            "\t\t1 data packet (1 byte)\n"
            "\t\t2 data packets (2920 bytes) retransmitted\n"
            "\t9 packets received\n"
            "\t\t1 ack (for 100 bytes)\n"
            "\t\t1 duplicate ack\n"
            "\t2 connection requests\n"
            "\t1 connection accept\n"
            "\t3 connections established (including accepts)\n"
            "\t4 connections closed (including 1 drop)\n"
            "\t5 challenge ACKs sent\n"
            "\t1 SACK recovery episode\n");
}

TEST(NetstatTcp, UnknownCountersShowAndPairsSkipOnlyWhenBothZero) {
  std::vector<iopkt_ctl_sysctl> e = {
      leaf("net.inet.tcp.stats.closed", "0"),    leaf("net.inet.tcp.stats.drops", "2"),
      leaf("net.inet.tcp.stats.sndpack", "0"),   leaf("net.inet.tcp.stats.sndbyte", "0"),
      leaf("net.inet.tcp.stats.rcvdupack", "0"), leaf("net.inet.tcp.stats.sack_newthing", "6"),
  };
  // -ss: a line is left out only when every counter on it is 0; a counter
  // added to the stack after this netstat shows under its own name.
  EXPECT_EQ(netstat_proto_stats("tcp", kTcp, e, true),
            "tcp:\n"
            "\t0 connections closed (including 2 drops)\n"
            "\t6 sack_newthing\n");
  std::string all = netstat_proto_stats("tcp", kTcp, e, false);
  EXPECT_NE(all.find("\t\t0 data packets (0 bytes)\n"), std::string::npos) << all;
  EXPECT_NE(all.find("\t\t0 duplicate acks\n"), std::string::npos) << all;
  // A pair's second counter is not printed again on its own.
  EXPECT_EQ(all.find("\t2 drops"), std::string::npos) << all;
  EXPECT_NE(all.find("(including 2 drops)"), std::string::npos) << all;
  EXPECT_EQ(netstat_proto_stats("tcp", kTcp, {}, false), "");
}

TEST(NetstatTcp, MbufPool) {
  std::vector<iopkt_ctl_sysctl> e = {
      leaf("kern.mbuf.mclbytes", "2048"),      leaf("kern.mbuf.pagesize", "4096"),
      leaf("kern.mbuf.clusters_in_use", "25"), leaf("kern.mbuf.clusters_total", "100"),
      leaf("kern.mbuf.alloc_failures", "3"),   leaf("kern.somaxconn", "128"),
  };
  EXPECT_EQ(netstat_mbuf_stats(e),
            "25/100 mbuf clusters in use (current/total)\n"
            "200 Kbytes allocated to network (25% in use)\n"
            "3 requests for memory denied\n");
  // Once the stack counts mbufs (and anything else), they show too.
  e.push_back(leaf("kern.mbuf.mbufs_in_use", "7"));
  e.push_back(leaf("kern.mbuf.cache_hits", "9"));
  EXPECT_EQ(netstat_mbuf_stats(e),
            "7 mbufs in use\n"
            "25/100 mbuf clusters in use (current/total)\n"
            "200 Kbytes allocated to network (25% in use)\n"
            "3 requests for memory denied\n"
            "9 cache_hits\n");
  // An empty pool: no division by zero.
  std::vector<iopkt_ctl_sysctl> empty = {
      leaf("kern.mbuf.mclbytes", "2048"),
      leaf("kern.mbuf.clusters_in_use", "0"),
      leaf("kern.mbuf.clusters_total", "0"),
  };
  EXPECT_EQ(netstat_mbuf_stats(empty),
            "0/0 mbuf clusters in use (current/total)\n"
            "0 Kbytes allocated to network (0% in use)\n");
  EXPECT_EQ(netstat_mbuf_stats({}), "");
}

}  // namespace
}  // namespace iopkt::fmt
