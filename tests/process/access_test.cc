// Who may do what (issue 9): credentials come from the kernel, sockets are
// for everyone, low ports, raw sockets and configuration need privilege,
// rgroup_allowed widens it to a group, endpoint_group narrows who may
// connect at all. Unprivileged clients are children of this (root) test
// that drop to nobody before their first request.
#include <arpa/inet.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include "iopkt/control.h"
#include "iopkt/driver.h"
#include "iopkt/iopkt.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

class Access : public ProcessTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root to act as other users";
    }
    // nobody must reach the endpoint through the folders.
    chmod(root().c_str(), 0755);
  }

  // Runs `fn` in a child that became uid/gid with `groups`, and returns its
  // exit code (fn's return value), or -1 if it died.
  int as_user(std::function<int()> fn, std::vector<gid_t> groups = {}, uid_t uid = kNobody,
              gid_t gid = kNogroup) {
    pid_t pid = fork();
    if (pid == 0) {
      if (setgroups(groups.size(), groups.data()) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        _exit(120);
      }
      iopkt_disconnect();  // the next request connects with these credentials
      _exit(fn());
    }
    auto st = wait_child(pid, Millis(20000));
    if (!st || !WIFEXITED(*st)) {
      return -1;
    }
    return WEXITSTATUS(*st);
  }

  // A utility run as nobody (setpriv drops uid, groups and capabilities).
  RunResult util_as_nobody(const std::string& name, const std::vector<std::string>& args,
                           const std::vector<std::string>& groups = {}) {
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534"};
    if (groups.empty()) {
      argv.push_back("--clear-groups");
    } else {
      std::string g = "--groups=";
      for (size_t i = 0; i < groups.size(); ++i) {
        g += (i ? "," : "") + groups[i];
      }
      argv.push_back(g);
    }
    argv.push_back("--inh-caps=-all");
    argv.push_back(bin_dir() + "/" + name);
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv, env({"SOCK=" + prefix_}), root(), Millis(20000));
  }

  void start(const std::string& tcpip_extra = {}) {
    prefix_ = path("s");
    auto run = start_instance(4, 1, prefix_, {}, tcpip_extra);
    ASSERT_TRUE(run.start.ok()) << run.start.describe();
    setenv("SOCK", prefix_.c_str(), 1);
    iopkt_disconnect();
  }

  bool lo0_has(const char* addr) {
    auto addrs = ifaddr_list(prefix_);
    if (!addrs) {
      return false;
    }
    for (const auto& a : *addrs) {
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, a.addr.addr, text, sizeof text);
      if (a.addr.family == AF_INET && std::strcmp(text, addr) == 0) {
        return true;
      }
    }
    return false;
  }

  std::string prefix_;
};

int bind_udp(uint16_t port) {
  int fd = iopkt_socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    return 100 + errno;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = iopkt_bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  return r == 0 ? 0 : errno;
}

// As nobody: a TCP listener on 127.0.0.1:port, a connection to it, one
// byte across, and a UDP socket connected to it; 0, or the failing step.
int tcp_and_udp_on(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto* sa = reinterpret_cast<sockaddr*>(&a);
  int l = iopkt_socket(AF_INET, SOCK_STREAM, 0);
  if (l < 0 || iopkt_bind(l, sa, sizeof a) != 0) {
    return l < 0 ? 1 : 2;
  }
  if (iopkt_listen(l, 4) != 0) {
    return 3;
  }
  int c = iopkt_socket(AF_INET, SOCK_STREAM, 0);
  if (c < 0 || iopkt_connect(c, sa, sizeof a) != 0) {
    return 4;
  }
  int s = iopkt_accept(l, nullptr, nullptr);
  char b = 0;
  if (s < 0 || iopkt_send(c, "!", 1, 0) != 1 || iopkt_recv(s, &b, 1, 0) != 1 || b != '!') {
    return 5;
  }
  int u = iopkt_socket(AF_INET, SOCK_DGRAM, 0);
  if (u < 0 || iopkt_connect(u, sa, sizeof a) != 0) {
    return 6;
  }
  return 0;
}

TEST_F(Access, AnyUserMayUseSocketsButNotLowPortsOrRawSockets) {
  start();
  EXPECT_EQ(as_user([] { return bind_udp(8080); }), 0);
  EXPECT_EQ(as_user([] { return tcp_and_udp_on(8080); }), 0);
  EXPECT_EQ(as_user([] { return bind_udp(80); }), EACCES);
  EXPECT_EQ(as_user([] {
              int fd = iopkt_socket(AF_INET, SOCK_STREAM, 0);
              sockaddr_in a{};
              a.sin_family = AF_INET;
              a.sin_port = htons(80);
              return iopkt_bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
            }),
            EACCES);
  EXPECT_EQ(as_user([] {
              int fd = iopkt_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
              return fd >= 0 ? 0 : errno;
            }),
            EPERM);
  // Root may do both.
  EXPECT_EQ(bind_udp(81), 0);
  // lowportmax is a sysctl: lowered, port 80 is for everyone.
  ASSERT_TRUE(run_util("sysctl", {"-w", "net.inet.ip.lowportmax=79"}, {"SOCK=" + prefix_}).ok());
  EXPECT_EQ(as_user([] { return bind_udp(80); }), 0);
}

TEST_F(Access, PingSocketsFollowPingGroupRange) {
  start();
  auto ping_socket = [] {
    int fd = iopkt_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    return fd >= 0 ? 0 : errno;
  };
  // Allowed by default (as modern distributions set ping_group_range).
  EXPECT_EQ(as_user(ping_socket), 0);
  // So nobody's ping works, through an ICMP echo socket.
  RunResult ok = util_as_nobody("ping", {"-c", "2", "-i", "0.1", "127.0.0.1"});
  EXPECT_TRUE(ok.ok()) << ok.describe();
  EXPECT_NE(ok.out.find("2 packets received"), std::string::npos) << ok.describe();
  ASSERT_TRUE(
      run_util("sysctl", {"-w", "net.inet.ping_group_range=1 0"}, {"SOCK=" + prefix_}).ok());
  EXPECT_EQ(as_user(ping_socket), EACCES);
  RunResult refused = util_as_nobody("ping", {"-c", "1", "127.0.0.1"});
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.describe();
}

TEST_F(Access, ConfigurationIsRefusedAndChangesNothing) {
  start();
  struct Case {
    std::string util;
    std::vector<std::string> args;
  };
  const Case cases[] = {
      {"ifconfig", {"lo0", "127.0.0.2", "alias"}},
      {"ifconfig", {"lo0", "down"}},
      {"ifconfig", {"lo0", "mtu", "1500"}},
      {"ifconfig", {"lo0", "destroy"}},
      {"route", {"add", "-net", "203.0.113.0/24", "-reject"}},
      {"sysctl", {"-w", "net.inet.ip.ttl=5"}},
      {"mount", {"-T", "io-pkt1", "-o", "wire=x", "vwire"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.util + " " + c.args[0]);
    if (!file_exists(bin_dir() + "/" + c.util)) {
      continue;  // route arrives with its utility
    }
    RunResult r = util_as_nobody(c.util, c.args);
    EXPECT_NE(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.err.find("Operation not permitted"), std::string::npos) << r.describe();
  }
  // Read back as root: nothing changed.
  EXPECT_FALSE(lo0_has("127.0.0.2"));
  EXPECT_EQ(sysctl_get(prefix_, "net.inet.ip.ttl"), "64");
  auto ifs = if_list(prefix_);
  ASSERT_TRUE(ifs.has_value());
  const iopkt_ctl_if_info* lo = find_if(*ifs, "lo0");
  ASSERT_NE(lo, nullptr);
  EXPECT_TRUE(lo->flags & IOPKT_IFF_UP);
  EXPECT_EQ(lo->mtu, 33192u);
  EXPECT_EQ(ifs->size(), 1u);
  // Reading is open to all.
  RunResult r = util_as_nobody("ifconfig", {"-a"});
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find("lo0"), std::string::npos);
  r = util_as_nobody("sysctl", {"net.inet.ip.ttl"});
  EXPECT_TRUE(r.ok()) << r.describe();
}

TEST_F(Access, ForgedRequestFieldsGainNothing) {
  start();
  // The protocol has no identity fields: whatever an unprivileged client
  // puts in the header's spare fields, the answer is EPERM.
  int bad = as_user([this] {
    CtlConn c(endpoint_of(prefix_));
    iopkt_ctl_sysctl body{};
    std::snprintf(body.name, sizeof body.name, "net.inet.ip.ttl");
    std::snprintf(body.value, sizeof body.value, "7");
    body.flags = 0xffffffff;
    body.type = 0;  // a "root" marker would not help either
    for (uint32_t forged : {0u, 1u, 0xffffffffu}) {
      iopkt_ctl_hdr h{};
      h.magic = IOPKT_CTL_MAGIC;
      h.version = IOPKT_CTL_VERSION;
      h.type = IOPKT_CTL_SYSCTL_SET;
      h.seq = 9;
      h.len = sizeof body;
      h.error = static_cast<int32_t>(forged);
      h.reserved = forged;
      std::vector<uint8_t> msg(sizeof h + sizeof body);
      std::memcpy(msg.data(), &h, sizeof h);
      std::memcpy(msg.data() + sizeof h, &body, sizeof body);
      if (!c.send_raw(msg)) {
        return 2;
      }
      auto rep = c.recv_reply();
      if (!rep || rep->hdr.error != EPERM) {
        return 3;
      }
    }
    return 0;
  });
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(sysctl_get(prefix_, "net.inet.ip.ttl"), "64");
}

TEST_F(Access, RgroupAllowedLetsAGroupConfigure) {
  start("rgroup_allowed=4242");
  RunResult member = util_as_nobody("ifconfig", {"lo0", "127.0.0.3", "alias"}, {"4242"});
  EXPECT_TRUE(member.ok()) << member.describe();
  EXPECT_TRUE(lo0_has("127.0.0.3"));
  RunResult other = util_as_nobody("ifconfig", {"lo0", "127.0.0.4", "alias"}, {"4243"});
  EXPECT_FALSE(other.ok());
  EXPECT_NE(other.err.find("Operation not permitted"), std::string::npos) << other.describe();
  EXPECT_FALSE(lo0_has("127.0.0.4"));
  // The group's members also get root's ports.
  EXPECT_EQ(as_user([] { return bind_udp(80); }, {4242}), 0);
}

TEST_F(Access, EndpointGroupRestrictsWhoConnects) {
  start("endpoint_group=4250");
  struct stat st {};
  ASSERT_EQ(stat(endpoint_of(prefix_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, 4250u);
  auto try_hello = [this] {
    CtlConn c(endpoint_of(prefix_));
    if (!c.connected()) {
      return 10;  // refused by the file mode
    }
    auto rep = c.request(IOPKT_CTL_HELLO);
    return rep ? 0 : 11;  // 11: connected, but the stack hung up
  };
  EXPECT_EQ(as_user(try_hello, {4250}), 0);
  EXPECT_EQ(as_user(try_hello), 10);
  // Even with the file opened up by mistake, the stack checks for itself.
  ASSERT_EQ(chmod(endpoint_of(prefix_).c_str(), 0666), 0);
  EXPECT_EQ(as_user(try_hello), 11);
  EXPECT_EQ(as_user(try_hello, {4250}), 0);
}

}  // namespace
}  // namespace iopkt::test

namespace iopkt::test {
namespace {

// mfib_gid_map (issue 9, point 3): a client's sockets route through the FIB
// of its group. FIB 1 rejects 203.0.113.0/24; FIB 0 has no route there.
TEST_F(Access, MfibGidMapChoosesTheFibByGroup) {
  start("mfib_gid_map=4300=1");
  EXPECT_EQ(sysctl_get(prefix_, "qnx.tcpip.mfib_gid_map"), "4300=1");
  RunResult r = run_util("route", {"-fib", "1", "add", "-net", "203.0.113.0/24", "-reject"},
                         {"SOCK=" + prefix_});
  ASSERT_TRUE(r.ok()) << r.describe();
  RunResult member = util_as_nobody("ping", {"-c", "1", "-W", "500", "203.0.113.5"}, {"4300"});
  EXPECT_NE(member.err.find("No route to host"), std::string::npos) << member.describe();
  RunResult other = util_as_nobody("ping", {"-c", "1", "-W", "500", "203.0.113.5"}, {"4301"});
  EXPECT_NE(other.err.find("Network is unreachable"), std::string::npos) << other.describe();
  // Root, without the group, uses FIB 0 as well.
  RunResult root = run_util("ping", {"-c", "1", "-W", "500", "203.0.113.5"}, {"SOCK=" + prefix_});
  EXPECT_NE(root.err.find("Network is unreachable"), std::string::npos) << root.describe();
}

}  // namespace
}  // namespace iopkt::test
