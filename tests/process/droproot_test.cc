// -U and qnx.kern.droproot (issue 9, point 6): after the drop every thread
// of the manager runs as -U's user with only the kept capabilities, traffic
// still flows, clients are still checked, and there is no way back.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "iopkt/iopkt.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

std::string status_field(const std::string& status_path, const std::string& field) {
  std::ifstream in(status_path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string v = line.substr(field.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return {};
}

class DropRoot : public ProcessTest {};

TEST_F(DropRoot, EveryThreadBecomesTheUserWithTheKeptCapabilities) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root";
  }
  chmod(root().c_str(), 0755);
  const std::string prefix = path("s");
  IoPktRun run =
      start_io_pkt(4, {"-U", "65534:65534", "-i", "1", "-p", "tcpip", "prefix=" + prefix}, 1);
  ASSERT_TRUE(run.start.ok()) << run.start.describe();
  RunResult w = run_util("sysctl", {"-w", "qnx.kern.droproot=0x3000"}, {"SOCK=" + prefix});
  ASSERT_TRUE(w.ok()) << w.describe();
  // Every thread (main, packet threads, timer) must have dropped.
  std::string task_dir = "/proc/" + std::to_string(run.pid) + "/task";
  ASSERT_TRUE(eventually(
      [&] {
        return status_field("/proc/" + std::to_string(run.pid) + "/status", "Uid")
                   .rfind("65534", 0) == 0;
      },
      Millis(5000)));
  DIR* d = opendir(task_dir.c_str());
  ASSERT_NE(d, nullptr);
  int threads = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') {
      continue;
    }
    std::string st = task_dir + "/" + e->d_name + "/status";
    SCOPED_TRACE(st);
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer runs a background thread of its own, which keeps the
    // process's first name; ours are renamed "io-pkt ..." (the main thread
    // keeps its name and has the process's id).
    std::string comm = read_file(task_dir + "/" + e->d_name + "/comm");
    if (std::to_string(run.pid) != e->d_name && comm.rfind("io-pkt ", 0) != 0) {
      continue;
    }
#endif
    EXPECT_EQ(status_field(st, "Uid"), "65534\t65534\t65534\t65534");
    EXPECT_EQ(status_field(st, "Gid"), "65534\t65534\t65534\t65534");
    EXPECT_EQ(status_field(st, "CapEff"), "0000000000003000");  // CAP_NET_ADMIN, CAP_NET_RAW
    EXPECT_EQ(status_field(st, "CapPrm"), "0000000000003000");
    ++threads;
  }
  closedir(d);
  EXPECT_GE(threads, 3);
  EXPECT_EQ(sysctl_get(prefix, "qnx.kern.droproot"), "12288");

  // Traffic still flows: UDP over lo0 through libiopkt.
  setenv("SOCK", prefix.c_str(), 1);
  iopkt_disconnect();
  int a = iopkt_socket(AF_INET, SOCK_DGRAM, 0), b = iopkt_socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(7300);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(iopkt_bind(b, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  ASSERT_EQ(iopkt_sendto(a, "after", 5, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 5);
  pollfd p{b, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  char buf[8];
  EXPECT_EQ(iopkt_recv(b, buf, sizeof buf, 0), 5);
  iopkt_close(a);
  iopkt_close(b);

  // Clients are still checked by their own credentials: root may configure.
  EXPECT_TRUE(run_util("ifconfig", {"lo0", "127.0.0.9", "alias"}, {"SOCK=" + prefix}).ok());
  // No way back.
  RunResult again = run_util("sysctl", {"-w", "qnx.kern.droproot=0x1"}, {"SOCK=" + prefix});
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.err.find("Operation not permitted"), std::string::npos) << again.describe();
}

TEST_F(DropRoot, ZeroStaysRoot) {
  const std::string prefix = path("s");
  IoPktRun run = start_instance(4, 1, prefix);
  ASSERT_TRUE(run.start.ok()) << run.start.describe();
  ASSERT_TRUE(run_util("sysctl", {"-w", "qnx.kern.droproot=0"}, {"SOCK=" + prefix}).ok());
  EXPECT_EQ(status_field("/proc/" + std::to_string(run.pid) + "/status", "Uid"),
            status_field("/proc/self/status", "Uid"));
}

}  // namespace
}  // namespace iopkt::test
