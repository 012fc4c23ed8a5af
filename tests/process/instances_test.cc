// process/instances_test.cc — instances side by side (SPEC §1 -i, prefix=;
// §3 SOCK): each answers on its own endpoint; SOCK picks one; a live number
// or a live endpoint cannot be taken twice; SIGTERM leaves nothing behind; a
// kill -9ed instance restarts at once; `mount -T io-pktN` reaches instance N
// through the registry whatever its prefix; ifconfig destroy detaches and
// the module unloads with its last interface.
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstring>
#include <string>
#include <vector>

#include "iopkt/iopkt.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

bool has_addr(const std::vector<iopkt_ctl_ifaddr>& addrs, const char* ifname, int family,
              const char* text) {
  uint8_t want[16] = {};
  if (inet_pton(family, text, want) != 1) {
    return false;
  }
  for (const auto& a : addrs) {
    if (std::strcmp(a.ifname, ifname) == 0 && a.addr.family == family &&
        std::memcmp(a.addr.addr, want, family == AF_INET ? 4 : 16) == 0) {
      return true;
    }
  }
  return false;
}

// setenv for the length of a scope (libiopkt reads SOCK at each call).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) {
      old_ = old;
      had_ = true;
    }
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

bool maps_module(pid_t pid, const std::string& file) {
  return contains(read_file("/proc/" + std::to_string(pid) + "/maps"), file);
}

class ProcessInstances : public ProcessTest {};

TEST_F(ProcessInstances, TwoInstancesSideBySide) {
  IoPktRun a = start_instance(4, 1, path("a"), {"-d", "testnic", "name=aa"});
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  IoPktRun b = start_instance(6, 2, path("b"), {"-d", "testnic", "name=bb"});
  ASSERT_TRUE(b.start.ok()) << b.start.describe();
  ASSERT_NE(a.pid, b.pid);

  // Ready means ready: the endpoint answers as soon as the start-up returned.
  auto ha = hello(path("a"));
  auto hb = hello(path("b"));
  ASSERT_TRUE(ha && hb);
  EXPECT_EQ(ha->ctl_version, IOPKT_CTL_VERSION);
  EXPECT_EQ(ha->variant, 4u);
  EXPECT_EQ(ha->instance, 1);
  EXPECT_EQ(ha->pid, a.pid);
  EXPECT_STREQ(ha->prefix, path("a").c_str());
  EXPECT_EQ(hb->variant, 6u);
  EXPECT_EQ(hb->instance, 2);
  EXPECT_EQ(hb->pid, b.pid);
  EXPECT_STREQ(hb->prefix, path("b").c_str());

  // The registry: "PID PREFIX\n" per instance.
  EXPECT_EQ(read_file(registry_path(1)), std::to_string(a.pid) + " " + path("a") + "\n");
  EXPECT_EQ(read_file(registry_path(2)), std::to_string(b.pid) + " " + path("b") + "\n");

  auto ifs_a = if_list(path("a"));
  auto ifs_b = if_list(path("b"));
  ASSERT_TRUE(ifs_a && ifs_b);
  EXPECT_NE(find_if(*ifs_a, "aa0"), nullptr);
  EXPECT_EQ(find_if(*ifs_a, "bb0"), nullptr);
  EXPECT_NE(find_if(*ifs_b, "bb0"), nullptr);
  EXPECT_EQ(find_if(*ifs_b, "aa0"), nullptr);

  // lo0 with its addresses: 127.0.0.1 on both, ::1 on v6-hc only.
  auto addrs_a = ifaddr_list(path("a"));
  auto addrs_b = ifaddr_list(path("b"));
  ASSERT_TRUE(addrs_a && addrs_b);
  EXPECT_TRUE(has_addr(*addrs_a, "lo0", AF_INET, "127.0.0.1"));
  EXPECT_FALSE(has_addr(*addrs_a, "lo0", AF_INET6, "::1"));
  EXPECT_TRUE(has_addr(*addrs_b, "lo0", AF_INET, "127.0.0.1"));
  EXPECT_TRUE(has_addr(*addrs_b, "lo0", AF_INET6, "::1"));
}

TEST_F(ProcessInstances, SockPicksOneForLibiopkt) {
  IoPktRun a = start_instance(4, 1, path("a"));
  IoPktRun b = start_instance(6, 2, path("b"));
  ASSERT_TRUE(a.start.ok() && b.start.ok()) << a.start.describe() << b.start.describe();
  iopkt_ctl_hello_reply h{};
  {
    ScopedEnv sock("SOCK", path("a"));
    ASSERT_EQ(iopkt_hello(&h), 0) << iopkt_last_error();
    EXPECT_EQ(h.instance, 1);
    EXPECT_EQ(h.pid, a.pid);
  }
  {
    // The library notices that SOCK now names another stack.
    ScopedEnv sock("SOCK", path("b"));
    ASSERT_EQ(iopkt_hello(&h), 0) << iopkt_last_error();
    EXPECT_EQ(h.instance, 2);
    EXPECT_EQ(h.pid, b.pid);
    char ep[256];
    iopkt_endpoint_path(ep, sizeof ep);
    EXPECT_EQ(std::string(ep), endpoint_of(path("b")));
  }
  {
    // No stack there: the error names the path tried.
    ScopedEnv sock("SOCK", path("nowhere"));
    EXPECT_NE(iopkt_hello(&h), 0);
    EXPECT_TRUE(contains(iopkt_last_error(), endpoint_of(path("nowhere")))) << iopkt_last_error();
  }
  iopkt_disconnect();
}

TEST_F(ProcessInstances, SockPicksOneForIfconfig) {
  if (!file_exists(bin_dir() + "/ifconfig")) {
    GTEST_SKIP() << "ifconfig not built yet";
  }
  IoPktRun a = start_instance(4, 1, path("a"), {"-d", "testnic", "name=aa"});
  IoPktRun b = start_instance(6, 2, path("b"), {"-d", "testnic", "name=bb"});
  ASSERT_TRUE(a.start.ok() && b.start.ok()) << a.start.describe() << b.start.describe();
  RunResult ra = run_util("ifconfig", {"-a"}, {"SOCK=" + path("a")});
  ASSERT_TRUE(ra.ok()) << ra.describe();
  EXPECT_TRUE(contains(ra.out, "aa0:")) << ra.out;
  EXPECT_FALSE(contains(ra.out, "bb0:")) << ra.out;
  EXPECT_TRUE(contains(ra.out, "lo0:")) << ra.out;
  EXPECT_TRUE(contains(ra.out, "inet 127.0.0.1")) << ra.out;
  RunResult rb = run_util("ifconfig", {"-a"}, {"SOCK=" + path("b")});
  ASSERT_TRUE(rb.ok()) << rb.describe();
  EXPECT_TRUE(contains(rb.out, "bb0:")) << rb.out;
  EXPECT_FALSE(contains(rb.out, "aa0:")) << rb.out;
  EXPECT_TRUE(contains(rb.out, "inet6 ::1")) << rb.out;
  // SOCK naming no stack: an error naming the path, non-zero.
  RunResult rn = run_util("ifconfig", {"-a"}, {"SOCK=" + path("nowhere")});
  EXPECT_NE(rn.exit_code, 0);
  EXPECT_TRUE(contains(rn.err, endpoint_of(path("nowhere")))) << rn.describe();
}

TEST_F(ProcessInstances, SecondInstanceWithLiveNumberRefuses) {
  IoPktRun a = start_instance(4, 1, path("a"));
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  IoPktRun again = start_instance(4, 1, path("c"));
  EXPECT_FALSE(again.start.timed_out);
  EXPECT_NE(again.start.exit_code, 0);
  EXPECT_TRUE(contains(again.start.err, "instance 1")) << again.start.err;
  EXPECT_TRUE(contains(again.start.err, "already running")) << again.start.err;
  EXPECT_TRUE(contains(again.start.err, std::to_string(a.pid))) << again.start.err;
  EXPECT_FALSE(file_exists(endpoint_of(path("c"))));
  // The first is untouched: it answers, and the registry still names it.
  auto h = hello(path("a"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->pid, a.pid);
  EXPECT_EQ(read_file(registry_path(1)), std::to_string(a.pid) + " " + path("a") + "\n");
  // The other variant cannot take the number either.
  IoPktRun v6 = start_instance(6, 1, path("d"));
  EXPECT_NE(v6.start.exit_code, 0);
}

TEST_F(ProcessInstances, SecondInstanceOnLiveEndpointRefuses) {
  IoPktRun a = start_instance(4, 1, path("a"));
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  IoPktRun b = start_instance(4, 2, path("a"));
  EXPECT_NE(b.start.exit_code, 0) << "a second stack took a live endpoint";
  EXPECT_TRUE(contains(b.start.err, endpoint_of(path("a")))) << b.start.err;
  auto h = hello(path("a"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->pid, a.pid);
  // Its failed start released instance 2.
  EXPECT_FALSE(file_exists(registry_path(2)));
  IoPktRun c = start_instance(4, 2, path("c"));
  EXPECT_TRUE(c.start.ok()) << c.start.describe();
}

TEST_F(ProcessInstances, SigtermLeavesNothingBehind) {
  IoPktRun a = start_instance(4, 1, path("a"), {"-d", "testnic"});
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  ASSERT_TRUE(file_exists(endpoint_of(path("a"))));
  ASSERT_TRUE(file_exists(registry_path(1)));
  ASSERT_EQ(kill(a.pid, SIGTERM), 0);
  ASSERT_TRUE(wait_gone(a.pid, Millis(10000))) << "still running 10 s after SIGTERM";
  forget(a.pid);
  EXPECT_FALSE(file_exists(endpoint_of(path("a"))));
  EXPECT_FALSE(file_exists(registry_path(1)));
  // And the number and prefix are free again.
  IoPktRun again = start_instance(4, 1, path("a"));
  EXPECT_TRUE(again.start.ok()) << again.start.describe();
}

TEST_F(ProcessInstances, KilledInstanceRestartsAtOnce) {
  IoPktRun a = start_instance(6, 3, path("a"), {"-d", "testnic"});
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  ASSERT_EQ(kill(a.pid, SIGKILL), 0);
  ASSERT_TRUE(wait_gone(a.pid, Millis(10000)));
  forget(a.pid);
  // What a killed stack leaves: the endpoint file (nobody listens) and the
  // registry file (nobody holds its lock).
  EXPECT_TRUE(file_exists(endpoint_of(path("a"))));
  EXPECT_TRUE(file_exists(registry_path(3)));
  EXPECT_FALSE(hello(path("a")).has_value());
  auto t0 = std::chrono::steady_clock::now();
  IoPktRun b = start_instance(6, 3, path("a"), {"-d", "testnic"});
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(b.start.ok()) << b.start.describe();
  EXPECT_LT(took, std::chrono::seconds(5)) << "the restart waited for something";
  auto h = hello(path("a"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->pid, b.pid);
  EXPECT_EQ(h->instance, 3);
  EXPECT_EQ(read_file(registry_path(3)), std::to_string(b.pid) + " " + path("a") + "\n");
}

TEST_F(ProcessInstances, SigtermWithDriversExitsCleanly) {
  const std::string err = path("fg.err");
  IoPktRun run = start_foreground(4,
                                  {"-i", "1", "-p", "tcpip", "prefix=" + path("a"), "-d", "testnic",
                                   "count=2", "-d", "testnic"},
                                  path("a"), err);
  ASSERT_TRUE(run.start.ok()) << run.start.describe();
  auto ifs = if_list(path("a"));
  ASSERT_TRUE(ifs);
  EXPECT_NE(find_if(*ifs, "tn0"), nullptr);
  EXPECT_NE(find_if(*ifs, "tn1"), nullptr);
  EXPECT_NE(find_if(*ifs, "tn2"), nullptr);
  auto status = terminate_child(run.pid);
  ASSERT_TRUE(status) << "no exit within 10 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status)) << "status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  std::string log = read_file(err);
  // Every interface's detach ran (testnic logs it).
  EXPECT_EQ(count_of(log, "testnic: detached"), 3u) << log;
  EXPECT_FALSE(file_exists(endpoint_of(path("a"))));
  EXPECT_FALSE(file_exists(registry_path(1)));
}

// SPEC §1: SIGSEGV quiesces the drivers and logs a backtrace, unless -S.
TEST_F(ProcessInstances, SegvQuiescesDriversAndLogsABacktrace) {
  const std::string err = path("segv.err");
  IoPktRun run = start_foreground(
      4, {"-i", "1", "-p", "tcpip", "prefix=" + path("a"), "-d", "testnic"}, path("a"), err);
  ASSERT_TRUE(run.start.ok()) << run.start.describe();
  ASSERT_EQ(kill(run.pid, SIGSEGV), 0);
  auto status = wait_child(run.pid, Millis(10000));
  ASSERT_TRUE(status) << "still running 10 s after SIGSEGV";
  forget(run.pid);
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSEGV)
      << "status " << *status << ": the handler must end by the same signal";
  std::string log = read_file(err);
  EXPECT_TRUE(contains(log, "SIGSEGV")) << log;
  EXPECT_TRUE(contains(log, "testnic: quiesced")) << log;
  EXPECT_TRUE(contains(log, "backtrace")) << log;

  // -S: no handler, so no quiescing and no backtrace; still the same death.
  // (In a sanitizer build, the sanitizer's own SIGSEGV handler would step
  // in where io-pkt installs none: turn it off for this run.)
  const std::string err2 = path("segv2.err");
  run = start_foreground(
      4, {"-S", "-i", "1", "-p", "tcpip", "prefix=" + path("a"), "-d", "testnic"}, path("a"), err2,
      Millis(20000), {"ASAN_OPTIONS=handle_segv=0", "TSAN_OPTIONS=handle_segv=0"});
  ASSERT_TRUE(run.start.ok()) << run.start.describe();
  ASSERT_EQ(kill(run.pid, SIGSEGV), 0);
  status = wait_child(run.pid, Millis(10000));
  ASSERT_TRUE(status);
  forget(run.pid);
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSEGV) << "status " << *status;
  log = read_file(err2);
  EXPECT_FALSE(contains(log, "testnic: quiesced")) << log;
  EXPECT_FALSE(contains(log, "backtrace")) << log;
}

TEST_F(ProcessInstances, MountReachesInstanceWhateverItsPrefix) {
  if (!file_exists(bin_dir() + "/mount")) {
    GTEST_SKIP() << "mount not built yet";
  }
  const std::string prefix = path("deep/er/x");
  IoPktRun a = start_instance(4, 1, prefix);
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  // Another instance that SOCK points at: mount must not go there.
  IoPktRun b = start_instance(4, 2, path("b"));
  ASSERT_TRUE(b.start.ok()) << b.start.describe();
  RunResult r = run_util("mount", {"-T", "io-pkt1", "-o", "name=mnt,unit=5", "testnic"},
                         {"SOCK=" + path("b")});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto ifs = if_list(prefix);
  ASSERT_TRUE(ifs);
  EXPECT_NE(find_if(*ifs, "mnt5"), nullptr);
  auto other = if_list(path("b"));
  ASSERT_TRUE(other);
  EXPECT_EQ(find_if(*other, "mnt5"), nullptr);
  // -o repeated, the driver's own option among them.
  r = run_util("mount", {"-T", "io-pkt1", "-o", "name=m", "-o", "count=2", "testnic"});
  ASSERT_TRUE(r.ok()) << r.describe();
  ifs = if_list(prefix);
  ASSERT_TRUE(ifs);
  EXPECT_NE(find_if(*ifs, "m0"), nullptr);
  EXPECT_NE(find_if(*ifs, "m1"), nullptr);
  // The driver's refusal comes back with its message.
  r = run_util("mount", {"-T", "io-pkt1", "-o", "bogus=1", "testnic"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, "bogus")) << r.describe();
  // A bad module: refused, the stack stays up.
  r = run_util("mount", {"-T", "io-pkt1", "badabi"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, "ABI version")) << r.describe();
  EXPECT_TRUE(hello(prefix));
}

TEST_F(ProcessInstances, MountInstanceZero) {
  if (!file_exists(bin_dir() + "/mount")) {
    GTEST_SKIP() << "mount not built yet";
  }
  IoPktRun a = start_io_pkt(4, {"-p", "tcpip", "prefix=" + path("zero")}, 0);
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  RunResult r = run_util("mount", {"-T", "io-pkt", "testnic"});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto ifs = if_list(path("zero"));
  ASSERT_TRUE(ifs);
  EXPECT_NE(find_if(*ifs, "tn0"), nullptr);
}

TEST_F(ProcessInstances, MountForAnInstanceNotRunningFails) {
  if (!file_exists(bin_dir() + "/mount")) {
    GTEST_SKIP() << "mount not built yet";
  }
  RunResult r = run_util("mount", {"-T", "io-pkt4", "testnic"});
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, "instance 4")) << r.describe();
  // Likewise after the instance was killed (stale registry file).
  IoPktRun a = start_instance(4, 4, path("a"));
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  kill(a.pid, SIGKILL);
  ASSERT_TRUE(wait_gone(a.pid, Millis(10000)));
  forget(a.pid);
  // The kernel releases the registry lock as the process's files close,
  // which a slow (sanitized) exit may finish a little after the process
  // stops counting as alive: allow it a moment.
  ASSERT_TRUE(eventually(
      [&] {
        r = run_util("mount", {"-T", "io-pkt4", "testnic"});
        return contains(r.err, "instance 4");
      },
      Millis(10000)))
      << r.describe();
  EXPECT_NE(r.exit_code, 0);
}

// The control request itself (what `mount` sends), and destroy: the module
// stays loaded while an interface uses it and unloads with the last one.
TEST_F(ProcessInstances, MountRequestDestroyAndModuleUnload) {
  IoPktRun a = start_instance(4, 1, path("a"));
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  EXPECT_FALSE(maps_module(a.pid, "devnp-testnic.so"));
  CtlConn c(endpoint_of(path("a")));
  ASSERT_TRUE(c.connected());
  iopkt_ctl_mount m{};
  std::snprintf(m.driver, sizeof m.driver, "testnic");
  std::snprintf(m.options, sizeof m.options, "count=2");
  auto rep = c.request(IOPKT_CTL_MOUNT, bytes_of(m));
  ASSERT_TRUE(rep);
  ASSERT_EQ(rep->hdr.error, 0) << rep->message();
  EXPECT_TRUE(maps_module(a.pid, "devnp-testnic.so"));

  // A failing attach made an interface before failing: it must not remain.
  std::snprintf(m.options, sizeof m.options, "fail");
  rep = c.request(IOPKT_CTL_MOUNT, bytes_of(m));
  ASSERT_TRUE(rep);
  EXPECT_NE(rep->hdr.error, 0);
  EXPECT_TRUE(contains(rep->message(), "fail")) << rep->message();
  auto ifs = if_list(path("a"));
  ASSERT_TRUE(ifs);
  EXPECT_NE(find_if(*ifs, "tn0"), nullptr);
  EXPECT_NE(find_if(*ifs, "tn1"), nullptr);
  EXPECT_EQ(find_if(*ifs, "tn2"), nullptr) << "the failed attach left tn2";
  EXPECT_EQ(ifs->size(), 3u);  // lo0 tn0 tn1

  iopkt_ctl_if_name d{};
  std::snprintf(d.ifname, sizeof d.ifname, "tn0");
  rep = c.request(IOPKT_CTL_IF_DESTROY, bytes_of(d));
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->hdr.error, 0) << rep->message();
  EXPECT_TRUE(maps_module(a.pid, "devnp-testnic.so")) << "unloaded with an interface left";
  std::snprintf(d.ifname, sizeof d.ifname, "tn1");
  rep = c.request(IOPKT_CTL_IF_DESTROY, bytes_of(d));
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->hdr.error, 0) << rep->message();
  ifs = if_list(path("a"));
  ASSERT_TRUE(ifs);
  EXPECT_EQ(find_if(*ifs, "tn0"), nullptr);
  EXPECT_EQ(find_if(*ifs, "tn1"), nullptr);
  EXPECT_TRUE(eventually([&] { return !maps_module(a.pid, "devnp-testnic.so"); }, Millis(2000)))
      << "devnp-testnic.so still mapped after its last interface was destroyed";
  // Destroying what is not there, and lo0 (built in).
  rep = c.request(IOPKT_CTL_IF_DESTROY, bytes_of(d));
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->hdr.error, ENXIO);
  std::snprintf(d.ifname, sizeof d.ifname, "lo0");
  rep = c.request(IOPKT_CTL_IF_DESTROY, bytes_of(d));
  ASSERT_TRUE(rep);
  EXPECT_NE(rep->hdr.error, 0) << "lo0 destroyed";
  // Loaded again on demand.
  std::snprintf(m.options, sizeof m.options, "%s", "");
  rep = c.request(IOPKT_CTL_MOUNT, bytes_of(m));
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->hdr.error, 0) << rep->message();
  EXPECT_TRUE(hello(path("a")));
}

TEST_F(ProcessInstances, IfconfigDestroy) {
  if (!file_exists(bin_dir() + "/ifconfig")) {
    GTEST_SKIP() << "ifconfig not built yet";
  }
  IoPktRun a = start_instance(4, 1, path("a"), {"-d", "testnic"});
  ASSERT_TRUE(a.start.ok()) << a.start.describe();
  RunResult r = run_util("ifconfig", {"tn0", "destroy"}, {"SOCK=" + path("a")});
  ASSERT_TRUE(r.ok()) << r.describe();
  auto ifs = if_list(path("a"));
  ASSERT_TRUE(ifs);
  EXPECT_EQ(find_if(*ifs, "tn0"), nullptr);
  EXPECT_TRUE(eventually([&] { return !maps_module(a.pid, "devnp-testnic.so"); }, Millis(2000)));
}

}  // namespace
}  // namespace iopkt::test
