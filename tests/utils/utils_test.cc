// tests/utils/utils_test.cc — the built utilities (ifconfig, sysctl,
// if_up, mount from IOPKT_TEST_BIN_DIR) as programs: usage errors, the
// no-stack message, mount's fall-through to the system mount, and their
// requests and output against a small fake stack (a thread answering the
// control protocol on a SOCK prefix in a temporary directory).
#include <errno.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "iopkt/control.h"
#include "iopkt/driver.h"

namespace {

struct Result {
  int status = -1;
  std::string out;
  std::string err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class UtilsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/iopkt-utils-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    (void)system(cmd.c_str());
  }

  // Runs `tool args` with `env` (VAR=value words) under a 20 s timeout.
  Result run(const std::string& tool, const std::string& args, const std::string& env = "") {
    std::string out = dir_ + "/out";
    std::string err = dir_ + "/err";
    std::string cmd = "env " + env + " timeout 20 " + std::string(IOPKT_TEST_BIN_DIR) + "/" + tool +
                      " " + args + " >" + out + " 2>" + err + " </dev/null";
    Result r;
    int st = system(cmd.c_str());
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }

  std::string dir_;
};

TEST_F(UtilsTest, UsageErrorsExitOneWithUsage) {
  for (const char* cmd :
       {"ifconfig -h", "ifconfig -z", "sysctl", "sysctl -h", "sysctl -a x", "if_up", "if_up -h en0",
        "if_up -r", "mount -T io-pkt", "mount -T io-pkt1 a b", "mount -T io-pkt -q drv"}) {
    std::string s = cmd;
    size_t sp = s.find(' ');
    Result r = run(s.substr(0, sp), sp == std::string::npos ? "" : s.substr(sp + 1),
                   "SOCK=" + dir_ + "/none");
    EXPECT_EQ(r.status, 1) << cmd;
    // The usage, possibly after a line saying what was wrong (getopt's way).
    EXPECT_TRUE(r.err.rfind("usage:", 0) == 0 || r.err.find("\nusage:") != std::string::npos)
        << cmd << ": " << r.err;
    EXPECT_EQ(r.out, "") << cmd;
  }
}

TEST_F(UtilsTest, NoStackNamesTheEndpoint) {
  std::string expect = "no io-pkt stack at " + dir_ + "/none/dev/socket: No such file or directory";
  for (const char* cmd : {"ifconfig", "ifconfig -a", "ifconfig lo0 up", "sysctl -a",
                          "sysctl net.inet.ip.ttl", "if_up -r 2 -m 10 en0"}) {
    std::string s = cmd;
    size_t sp = s.find(' ');
    std::string tool = s.substr(0, sp);
    Result r = run(tool, sp == std::string::npos ? "" : s.substr(sp + 1), "SOCK=" + dir_ + "/none");
    EXPECT_EQ(r.status, 1) << cmd;
    EXPECT_EQ(r.err, tool + ": " + expect + "\n") << cmd;
  }
}

TEST_F(UtilsTest, SysctlRefusesToSetWithoutW) {
  Result r = run("sysctl", "net.inet.ip.ttl=3", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sysctl: Must specify -w to set variables\n");
}

TEST_F(UtilsTest, MountWithoutLiveInstanceSaysSo) {
  Result r = run("mount", "-T io-pkt7 -o wire=a vwire", "IOPKT_RUNDIR=" + dir_);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("mount: no io-pkt instance 7 (" + dir_ + "/io-pkt.7: ", 0), 0u) << r.err;
}

TEST_F(UtilsTest, MountOfAnotherTypeRunsTheSystemMount) {
  if (access("/usr/bin/mount", X_OK) != 0 && access("/bin/mount", X_OK) != 0) {
    GTEST_SKIP() << "no system mount";
  }
  Result r = run("mount", "--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("util-linux"), std::string::npos) << r.out << r.err;
}

// --- a fake stack ---------------------------------------------------------

struct Seen {
  uint16_t type;
  std::vector<uint8_t> body;
};

class FakeStack {
 public:
  explicit FakeStack(const std::string& prefix) {
    mkdir((prefix + "/dev").c_str(), 0755);
    std::string path = prefix + "/dev/socket";
    listener_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
    EXPECT_EQ(listen(listener_, 8), 0);
    // lo0 up with 127.0.0.1/8 and ::1; en0 down, Ethernet, no address.
    iopkt_ctl_if_info lo{};
    strcpy(lo.name, "lo0");
    lo.index = 1;
    lo.flags = IOPKT_IFF_UP | IOPKT_IFF_LOOPBACK | IOPKT_IFF_RUNNING | IOPKT_IFF_MULTICAST;
    lo.mtu = 33192;
    ifs_.push_back(lo);
    iopkt_ctl_if_info en{};
    strcpy(en.name, "en0");
    en.index = 2;
    en.flags = IOPKT_IFF_BROADCAST | IOPKT_IFF_SIMPLEX | IOPKT_IFF_MULTICAST;
    en.mtu = 1500;
    en.link_type = IOPKT_LINK_ETHER;
    en.mac[0] = 2;
    en.mac[5] = 1;
    ifs_.push_back(en);
    iopkt_ctl_ifaddr a{};
    strcpy(a.ifname, "lo0");
    a.addr.family = AF_INET;
    a.addr.addr[0] = 127;
    a.addr.addr[3] = 1;
    a.prefixlen = 8;
    addrs_.push_back(a);
    iopkt_ctl_ifaddr b{};
    strcpy(b.ifname, "lo0");
    b.addr.family = AF_INET6;
    b.addr.addr[15] = 1;
    b.prefixlen = 128;
    addrs_.push_back(b);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeStack() {
    stop_ = true;
    thread_.join();
    close(listener_);
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void loop() {
    std::vector<int> conns;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      std::vector<pollfd> p{{listener_, POLLIN, 0}};
      for (int c : conns) {
        p.push_back({c, POLLIN, 0});
      }
      if (poll(p.data(), p.size(), 20) <= 0) {
        continue;
      }
      if (p[0].revents != 0) {
        int c = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          conns.push_back(c);
        }
      }
      for (size_t i = 1; i < p.size(); ++i) {
        if (p[i].revents != 0 && !serve(p[i].fd)) {
          close(p[i].fd);
          conns[i - 1] = -1;
        }
      }
      std::erase(conns, -1);
    }
    for (int c : conns) {
      close(c);
    }
  }

  template <typename T>
  static std::vector<uint8_t> bytes(const T& v, size_t n = sizeof(T)) {
    std::vector<uint8_t> out(n);
    memcpy(out.data(), &v, n);
    return out;
  }

  bool serve(int c) {
    std::vector<uint8_t> buf(IOPKT_CTL_MAX_MSG + sizeof(iopkt_ctl_hdr));
    ssize_t n = recv(c, buf.data(), buf.size(), 0);
    if (n < static_cast<ssize_t>(sizeof(iopkt_ctl_hdr))) {
      return false;
    }
    iopkt_ctl_hdr h;
    memcpy(&h, buf.data(), sizeof h);
    std::vector<uint8_t> body(buf.begin() + sizeof h, buf.begin() + n);
    std::vector<uint8_t> reply;
    int32_t error = 0;
    {
      std::lock_guard lock(mu_);
      seen_.push_back({h.type, body});
      switch (h.type) {
        case IOPKT_CTL_HELLO: {
          iopkt_ctl_hello_reply r{};
          r.ctl_version = IOPKT_CTL_VERSION;
          r.variant = 6;
          reply = bytes(r);
          break;
        }
        case IOPKT_CTL_IF_LIST: {
          iopkt_ctl_list req;
          memcpy(&req, body.data(), sizeof req);
          auto r = std::make_unique<iopkt_ctl_if_list_reply>();
          for (const iopkt_ctl_if_info& i : ifs_) {
            if (req.name[0] == '\0' || strcmp(req.name, i.name) == 0) {
              r->ifs[r->count++] = i;
            }
          }
          reply = bytes(
              *r, offsetof(iopkt_ctl_if_list_reply, ifs) + r->count * sizeof(iopkt_ctl_if_info));
          break;
        }
        case IOPKT_CTL_IFADDR_LIST: {
          iopkt_ctl_list req;
          memcpy(&req, body.data(), sizeof req);
          auto r = std::make_unique<iopkt_ctl_ifaddr_list_reply>();
          for (const iopkt_ctl_ifaddr& a : addrs_) {
            if (req.name[0] == '\0' || strcmp(req.name, a.ifname) == 0) {
              r->addrs[r->count++] = a;
            }
          }
          reply = bytes(*r, offsetof(iopkt_ctl_ifaddr_list_reply, addrs) +
                                r->count * sizeof(iopkt_ctl_ifaddr));
          break;
        }
        case IOPKT_CTL_IF_SETFLAGS: {
          iopkt_ctl_if_flags req;
          memcpy(&req, body.data(), sizeof req);
          for (iopkt_ctl_if_info& i : ifs_) {
            if (strcmp(i.name, req.ifname) == 0) {
              i.flags = (i.flags | req.set) & ~req.clear;
            }
          }
          break;
        }
        case IOPKT_CTL_IFADDR_ADD: {
          iopkt_ctl_ifaddr req;
          memcpy(&req, body.data(), sizeof req);
          for (const iopkt_ctl_ifaddr& a : addrs_) {
            if (memcmp(&a.addr, &req.addr, sizeof a.addr) == 0) {
              error = EEXIST;
            }
          }
          if (error == 0) {
            addrs_.push_back(req);
          }
          break;
        }
        case IOPKT_CTL_SYSCTL_GET:
        case IOPKT_CTL_SYSCTL_SET: {
          iopkt_ctl_sysctl req;
          memcpy(&req, body.data(), sizeof req);
          if (strcmp(req.name, "net.inet.ip.ttl") != 0) {
            error = ENOENT;
            break;
          }
          if (h.type == IOPKT_CTL_SYSCTL_SET) {
            ttl_ = req.value;
          }
          req.type = IOPKT_SYSCTL_INT;
          strcpy(req.value, ttl_.c_str());
          reply = bytes(req);
          break;
        }
        case IOPKT_CTL_SYSCTL_LIST: {
          auto r = std::make_unique<iopkt_ctl_sysctl_list_reply>();
          const char* names[] = {"net.inet.ip.forwarding", "net.inet.ip.ttl", "net.inet6.ip6.hlim"};
          const char* values[] = {"0", ttl_.c_str(), "64"};
          for (int k = 0; k < 3; ++k) {
            iopkt_ctl_sysctl& e = r->entries[r->count++];
            strcpy(e.name, names[k]);
            strcpy(e.value, values[k]);
            e.type = IOPKT_SYSCTL_INT;
          }
          reply = bytes(*r, offsetof(iopkt_ctl_sysctl_list_reply, entries) +
                                r->count * sizeof(iopkt_ctl_sysctl));
          break;
        }
        default:
          error = ENOSYS;
      }
    }
    h.error = error;
    h.len = static_cast<uint32_t>(reply.size());
    iovec iov[2] = {{&h, sizeof h}, {reply.data(), reply.size()}};
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = reply.empty() ? 1 : 2;
    return sendmsg(c, &m, MSG_NOSIGNAL) >= 0;
  }

  int listener_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::vector<iopkt_ctl_if_info> ifs_;
  std::vector<iopkt_ctl_ifaddr> addrs_;
  std::string ttl_ = "64";
};

TEST_F(UtilsTest, IfconfigListsInNetbsdFormat) {
  FakeStack stack(dir_);
  Result r = run("ifconfig", "-a", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 33192\n"
            "\tinet 127.0.0.1 netmask 0xff000000\n"
            "\tinet6 ::1 prefixlen 128\n"
            "en0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n"
            "\taddress: 02:00:00:00:00:01\n"
            "\tstatus: no carrier\n");
  r = run("ifconfig", "-l", "SOCK=" + dir_);
  EXPECT_EQ(r.out, "lo0 en0\n");
  r = run("ifconfig", "-lu", "SOCK=" + dir_);
  EXPECT_EQ(r.out, "lo0\n");
  r = run("ifconfig", "nope0", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ifconfig: interface nope0 does not exist\n");
}

TEST_F(UtilsTest, IfconfigUpAndAddressRequests) {
  FakeStack stack(dir_);
  Result r = run("ifconfig", "en0 inet 192.0.2.1 netmask 0xffffff00 up", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  std::vector<Seen> seen = stack.seen();
  iopkt_ctl_ifaddr add{};
  iopkt_ctl_if_flags fl{};
  bool got_add = false;
  bool got_flags = false;
  for (const Seen& s : seen) {
    if (s.type == IOPKT_CTL_IFADDR_ADD && s.body.size() == sizeof add) {
      memcpy(&add, s.body.data(), sizeof add);
      got_add = true;
    }
    if (s.type == IOPKT_CTL_IF_SETFLAGS && s.body.size() == sizeof fl) {
      memcpy(&fl, s.body.data(), sizeof fl);
      got_flags = true;
    }
  }
  ASSERT_TRUE(got_add);
  EXPECT_STREQ(add.ifname, "en0");
  EXPECT_EQ(add.addr.family, AF_INET);
  EXPECT_EQ(add.addr.addr[0], 192);
  EXPECT_EQ(add.prefixlen, 24u);
  EXPECT_EQ(add.flags, 0u);  // no alias: replace the primary address
  EXPECT_EQ(add.dst_or_broadcast.family, 0);
  ASSERT_TRUE(got_flags);
  EXPECT_EQ(fl.set, IOPKT_IFF_UP);
  EXPECT_EQ(fl.clear, 0u);

  r = run("ifconfig", "en0", "SOCK=" + dir_);
  EXPECT_EQ(r.out,
            "en0: flags=8803<UP,BROADCAST,SIMPLEX,MULTICAST> mtu 1500\n"
            "\taddress: 02:00:00:00:00:01\n"
            "\tstatus: no carrier\n"
            "\tinet 192.0.2.1 netmask 0xffffff00\n");

  // The same address again: the stack's EEXIST, in NetBSD's words.
  r = run("ifconfig", "en0 192.0.2.1 alias", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "ifconfig: SIOCAIFADDR: File exists\n");
}

TEST_F(UtilsTest, SysctlReadsListsAndSets) {
  FakeStack stack(dir_);
  Result r = run("sysctl", "net.inet.ip.ttl", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "net.inet.ip.ttl = 64\n");
  r = run("sysctl", "-n net.inet.ip.ttl", "SOCK=" + dir_);
  EXPECT_EQ(r.out, "64\n");
  r = run("sysctl", "-w net.inet.ip.ttl=32", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "net.inet.ip.ttl: 64 -> 32\n");
  r = run("sysctl", "net.inet", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "net.inet.ip.forwarding = 0\nnet.inet.ip.ttl = 32\n");
  r = run("sysctl", "-a", "SOCK=" + dir_);
  EXPECT_EQ(r.out, "net.inet.ip.forwarding = 0\nnet.inet.ip.ttl = 32\nnet.inet6.ip6.hlim = 64\n");
  r = run("sysctl", "net.nothing", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "sysctl: net.nothing: No such file or directory\n");
}

TEST_F(UtilsTest, IfUpWaitsForUpAndAddressOrGivesUp) {
  FakeStack stack(dir_);
  Result r = run("if_up", "lo0", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  r = run("if_up", "-p -r 1 en0", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  auto start = std::chrono::steady_clock::now();
  r = run("if_up", "-r 3 -m 20 en0", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "if_up: en0: interface is down (gave up after 3 tries)\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(40));
  r = run("if_up", "-r 2 -m 10 -a lo0 en0", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 1);
  r = run("if_up", "-r 2 -m 10 lo0 en0", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 0);  // one of them is enough without -a
  r = run("if_up", "-r 1 -6 lo0", "SOCK=" + dir_);
  EXPECT_EQ(r.status, 0) << r.err;
}

}  // namespace
