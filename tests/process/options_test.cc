// process/options_test.cc — the option matrix of SPEC §1 on the real
// binaries: every `-p tcpip` option with a valid value either takes effect
// (the instance starts and sysctl qnx.tcpip.NAME shows the value) or, until
// the work that implements it lands, is refused at start-up with a message
// that names it; with an invalid value it is always refused, non-zero, with a
// message naming it. Then the command-line options, module selection (-d,
// -p pf-*), the generic driver options and clamping notes.
//
// The table below is written from SPEC §1, not from the manager's own option
// table, so that an option the manager forgets shows up here.
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "iopkt/driver.h"
#include "support/process.hh"

namespace iopkt::test {
namespace {

struct OptionCase {
  const char* name;      // as in SPEC §1
  const char* valid;     // a valid `-p tcpip` item; "@T@" is the test's folder
  const char* expected;  // qnx.tcpip.NAME when it takes effect (nullptr: not checked)
  const char* invalid;   // a malformed item
  int variant = 4;
};

// Valid values chosen inside the ranges (no clamping), invalid ones each a
// different kind of malformation: letters in a number, a value on a flag, a
// bad boolean, a relative path, a broken map.
const OptionCase kCases[] = {
    {"bigpage_strict", "bigpage_strict", "1", "bigpage_strict=2"},
    {"bigstack", "bigstack=262144", "262144", "bigstack=256k"},
    {"cache", "cache=0", "0", "cache=off"},
    {"confstr_monitor", "confstr_monitor", "1", "confstr_monitor=yes"},
    {"fastforward", "fastforward=0", "0", "fastforward=2"},
    {"forward", "forward", "1", "forward=abc"},
    {"forward6", "forward6", "1", "forward6=1", 6},
    {"mfib_gid_map", "mfib_gid_map=750=1;760=2", "750=1;760=2", "mfib_gid_map=750=x"},
    {"ipsec", "ipsec", "1", "ipsec=on"},
    {"mbuf_cache", "mbuf_cache=64", "64", "mbuf_cache=12abc"},
    {"mclbytes", "mclbytes=4096", "4096", "mclbytes=big"},
    {"num_tap_interface", "num_tap_interface=3", "3", "num_tap_interface=-1"},
    {"num_tun_control_interface", "num_tun_control_interface=2", "2",
     "num_tun_control_interface=two"},
    {"pagesize", "pagesize=8192", "8192", "pagesize=8k"},
    {"pfil_ipsec", "pfil_ipsec", "1", "pfil_ipsec=1"},
    {"pkt_cache", "pkt_cache=32", "32", "pkt_cache=0x"},
    {"pkt_typed_mem", "pkt_typed_mem=@T@/pool", "@T@/pool", "pkt_typed_mem="},
    {"prefix", "prefix=@T@/a", "@T@/a", "prefix=relative/dir"},
    {"random", "random", "1", "random=1"},
    {"recv_ctxt", "recv_ctxt=4096", "4096", "recv_ctxt=1O24"},
    {"reuseport_unicast", "reuseport_unicast", "1", "reuseport_unicast=1"},
    {"rx_prio", "rx_prio=10", "10", "rx_prio=high"},
    {"rx_pulse_prio", "rx_pulse_prio=11", "11", "rx_pulse_prio=1.5"},
    {"somaxconn", "somaxconn=256", "256", "somaxconn="},
    {"stackguard", "stackguard", "1", "stackguard=1"},
    {"stacksize", "stacksize=65536", "65536", "stacksize=64KiB"},
    {"threads_incr", "threads_incr=10", "10", "threads_incr=ten"},
    {"threads_max", "threads_max=100", "100", "threads_max=1e3"},
    {"threads_min", "threads_min=8", "8", "threads_min=-8"},
    {"timer_pulse_prio", "timer_pulse_prio=20", "20", "timer_pulse_prio=x20"},
    {"no_rst_validation", "no_rst_validation", "1", "no_rst_validation=0"},
    // io-pkt source extras (SPEC §1: accepted where they map onto something
    // real, otherwise refused by name).
    {"reply_ctxt", "reply_ctxt=100", "100", "reply_ctxt=many"},
    {"strict_ts", "strict_ts", "1", "strict_ts=1"},
    {"mtag_cache", "mtag_cache=8", "8", "mtag_cache=8x"},
    {"timertol", "timertol=5", "5", "timertol=2000"},
    {"nocryptodev", "nocryptodev", "1", "nocryptodev=1"},
    {"so_txprio_enable", "so_txprio_enable", "1", "so_txprio_enable=yes"},
};

// Test names in ctest read "...ValidValue.../mclbytes", not bytes.
void PrintTo(const OptionCase& c, std::ostream* os) { *os << c.name << " (v" << c.variant << ")"; }

std::string subst(std::string s, const std::string& t) {
  for (size_t at; (at = s.find("@T@")) != std::string::npos;) {
    s.replace(at, 3, t);
  }
  return s;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

class ProcessTcpipOption : public ProcessTest, public ::testing::WithParamInterface<OptionCase> {};

TEST_P(ProcessTcpipOption, ValidValueTakesEffectOrIsRefusedByName) {
  const OptionCase& c = GetParam();
  const std::string prefix = path("a");
  std::string item = subst(c.valid, root());
  // prefix= is the option under test itself in one case.
  std::string list = std::string(c.name) == "prefix" ? item : "prefix=" + prefix + "," + item;
  IoPktRun run = start_io_pkt(c.variant, {"-i", "1", "-p", "tcpip", list}, 1);
  ASSERT_FALSE(run.start.timed_out) << run.start.describe();
  ASSERT_EQ(run.start.signal, 0) << run.start.describe();
  if (run.start.exit_code != 0) {
    // Refused: only as "not supported (yet)", naming the option.
    EXPECT_TRUE(contains(run.start.err, "'" + std::string(c.name) + "'"))
        << "the refusal does not name " << c.name << ":\n"
        << run.start.err;
    EXPECT_TRUE(contains(run.start.err, "not supported"))
        << "a valid " << item << " was refused for another reason:\n"
        << run.start.err;
    EXPECT_FALSE(file_exists(endpoint_of(prefix)));
    RecordProperty(c.name, "refused: not supported yet");
    return;
  }
  RecordProperty(c.name, "takes effect");
  auto h = hello(prefix);
  ASSERT_TRUE(h.has_value()) << c.name << ": started but does not answer HELLO";
  EXPECT_EQ(h->variant, static_cast<uint32_t>(c.variant));
  if (c.expected != nullptr) {
    auto v = sysctl_get(prefix, "qnx.tcpip." + std::string(c.name));
    ASSERT_TRUE(v.has_value()) << "no sysctl qnx.tcpip." << c.name;
    EXPECT_EQ(*v, subst(c.expected, root())) << "qnx.tcpip." << c.name;
  }
  kill(run.pid, SIGTERM);
  EXPECT_TRUE(wait_gone(run.pid, Millis(10000))) << c.name << ": SIGTERM did not stop it";
}

TEST_P(ProcessTcpipOption, InvalidValueIsRefusedByName) {
  const OptionCase& c = GetParam();
  const std::string prefix = path("a");
  std::string item = subst(c.invalid, root());
  std::string list = std::string(c.name) == "prefix" ? item : "prefix=" + prefix + "," + item;
  IoPktRun run = start_io_pkt(c.variant, {"-i", "1", "-p", "tcpip", list}, 1);
  ASSERT_FALSE(run.start.timed_out) << run.start.describe();
  EXPECT_EQ(run.start.signal, 0) << run.start.describe();
  EXPECT_NE(run.start.exit_code, 0) << item << " was accepted";
  EXPECT_TRUE(contains(run.start.err, c.name)) << "the message does not name " << c.name << ":\n"
                                               << run.start.err;
  EXPECT_FALSE(file_exists(endpoint_of(prefix)));
  EXPECT_FALSE(file_exists(registry_path(1)));
}

INSTANTIATE_TEST_SUITE_P(Spec, ProcessTcpipOption, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<OptionCase>& info) {
                           return std::string(info.param.name);
                         });

class ProcessOptions : public ProcessTest {
 protected:
  // Starts with `args` after "-i 1 -p tcpip prefix=T/a"; expects refusal
  // naming every word of `names`.
  void expect_refused(int variant, const std::vector<std::string>& args,
                      const std::vector<std::string>& names, const std::string& tcpip = {}) {
    IoPktRun run = start_instance(variant, 1, path("a"), args, tcpip);
    ASSERT_FALSE(run.start.timed_out) << run.start.describe();
    EXPECT_EQ(run.start.signal, 0) << run.start.describe();
    EXPECT_NE(run.start.exit_code, 0)
        << "accepted: " << ::testing::PrintToString(args) << " " << tcpip;
    for (const auto& n : names) {
      EXPECT_TRUE(contains(run.start.err, n)) << "message does not name '" << n << "':\n"
                                              << run.start.err;
    }
    EXPECT_FALSE(file_exists(endpoint_of(path("a"))));
    EXPECT_FALSE(file_exists(registry_path(1)));
  }
  // Starts and returns the run, asserting it is ready.
  IoPktRun expect_started(int variant, const std::vector<std::string>& args, int instance = 1,
                          const std::string& tcpip = {}) {
    IoPktRun run = start_instance(variant, instance, path("a"), args, tcpip);
    EXPECT_TRUE(run.start.ok()) << ::testing::PrintToString(args) << "\n" << run.start.describe();
    return run;
  }
};

TEST_F(ProcessOptions, InstanceNumber) {
  IoPktRun run = expect_started(4, {}, 7);
  ASSERT_TRUE(run.start.ok());
  auto h = hello(path("a"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->instance, 7);
  EXPECT_EQ(h->pid, run.pid);
  EXPECT_EQ(sysctl_get(path("a"), "qnx.kern.instance"), "7");
}

TEST_F(ProcessOptions, InstanceNumberMalformed) {
  for (const char* bad : {"abc", "-1", "1000", "3x", ""}) {
    IoPktRun run = start_io_pkt(4, {"-i", bad, "-p", "tcpip", "prefix=" + path("a")}, 1);
    EXPECT_NE(run.start.exit_code, 0) << "-i " << bad << " accepted";
    EXPECT_TRUE(contains(run.start.err, "-i")) << "-i " << bad << ": " << run.start.err;
  }
}

TEST_F(ProcessOptions, Priority) {
  IoPktRun run = expect_started(4, {"-P", "10"});
  ASSERT_TRUE(run.start.ok());
  EXPECT_EQ(sysctl_get(path("a"), "qnx.kern.priority"), "10");
  // What was applied (real-time or nice) is reported, not left blank.
  auto applied = sysctl_get(path("a"), "qnx.kern.priority_applied");
  ASSERT_TRUE(applied);
  EXPECT_FALSE(applied->empty());
}

TEST_F(ProcessOptions, PriorityMalformed) {
  for (const char* bad : {"0", "256", "x", "10.5"}) {
    expect_refused(4, {"-P", bad}, {"-P"});
  }
}

TEST_F(ProcessOptions, Threads) {
  IoPktRun run = expect_started(4, {"-t", "2"});
  ASSERT_TRUE(run.start.ok());
  EXPECT_EQ(sysctl_get(path("a"), "qnx.kern.threads"), "2");
  // Two packet threads really run: io-pkt rx0 and rx1 among the tasks.
  int rx = 0;
  std::string dir = "/proc/" + std::to_string(run.pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') {
        continue;
      }
      std::string comm = read_file(dir + "/" + e->d_name + "/comm");
      rx += comm.rfind("io-pkt rx", 0) == 0 ? 1 : 0;
    }
    closedir(d);
  }
  EXPECT_EQ(rx, 2) << "packet threads named 'io-pkt rx*' in " << dir;
}

TEST_F(ProcessOptions, ThreadsMalformed) {
  for (const char* bad : {"0", "abc", "-2"}) {
    expect_refused(4, {"-t", bad}, {"-t"});
  }
}

TEST_F(ProcessOptions, DropUser) {
  IoPktRun run = expect_started(4, {"-U", "99:99,120"});
  ASSERT_TRUE(run.start.ok());
  EXPECT_EQ(sysctl_get(path("a"), "qnx.kern.droproot_user"), "99:99,120");
  kill_io_pkt(run.pid);
  IoPktRun by_name = expect_started(4, {"-U", "nobody,120"});
  ASSERT_TRUE(by_name.start.ok());
}

TEST_F(ProcessOptions, DropUserMalformed) {
  for (const char* bad : {"99:x", "bad user", "nobody:99", "1,2"}) {
    expect_refused(4, {"-U", bad}, {"-U"});
  }
}

TEST_F(ProcessOptions, NoSegvHandler) {
  IoPktRun run = expect_started(4, {"-S"});
  EXPECT_TRUE(run.start.ok());
}

TEST_F(ProcessOptions, UnknownLetter) { expect_refused(4, {"-z"}, {"-z"}); }

TEST_F(ProcessOptions, UnknownTcpipOption) {
  expect_refused(4, {}, {"frobnicate"}, "frobnicate=1");
}

TEST_F(ProcessOptions, SpacesInsteadOfCommas) {
  IoPktRun run = start_io_pkt(4, {"-i", "1", "-p", "tcpip", "prefix=" + path("x"), "forward"}, 1);
  EXPECT_NE(run.start.exit_code, 0);
  EXPECT_TRUE(contains(run.start.err, "forward")) << run.start.err;
  EXPECT_TRUE(contains(run.start.err, "comma")) << run.start.err;
  EXPECT_FALSE(file_exists(endpoint_of(path("x"))));
  // A space inside one argument (quoted by a shell) as well.
  run = start_io_pkt(4, {"-i", "1", "-p", "tcpip", "prefix=" + path("x") + " forward"}, 1);
  EXPECT_NE(run.start.exit_code, 0);
  EXPECT_TRUE(contains(run.start.err, "space")) << run.start.err;
}

TEST_F(ProcessOptions, V6OnlyOptionOnV4) {
  expect_refused(4, {}, {"forward6", "io-pkt-v6-hc"}, "forward6");
}

TEST_F(ProcessOptions, ProtocolModuleOfTheOtherVariant) {
  expect_refused(4, {"-p", "pf-v6"}, {"pf-v6"});
  expect_refused(6, {"-p", "pf-v4"}, {"pf-v4"});
  expect_refused(6, {"-p", "slip"}, {"slip"});
  expect_refused(4, {"-p", "nosuchproto"}, {"nosuchproto"});
}

TEST_F(ProcessOptions, ProtocolModuleOfTheRightVariant) {
  // pf-v4 resolves to lsm-pf-v4.so: until the packet filter lands it is
  // either missing or refused, by name; if it loads, the stack starts.
  IoPktRun run = start_instance(4, 1, path("a"), {"-p", "pf-v4"});
  if (run.start.exit_code != 0) {
    EXPECT_TRUE(contains(run.start.err, "pf-v4")) << run.start.err;
    EXPECT_TRUE(contains(run.start.err, "lsm-pf-v4.so")) << run.start.err;
  } else {
    EXPECT_TRUE(hello(path("a")));
  }
}

TEST_F(ProcessOptions, MissingDriverNamesFileAndFolders) {
  IoPktRun run = start_instance(4, 1, path("a"), {"-d", "nosuchnic"});
  EXPECT_NE(run.start.exit_code, 0);
  EXPECT_TRUE(contains(run.start.err, "devnp-nosuchnic.so")) << run.start.err;
  // The folders searched: IOPKT_MODULE_PATH and the build's module folder.
  EXPECT_TRUE(contains(run.start.err, extra_module_dir())) << run.start.err;
  EXPECT_TRUE(contains(run.start.err, module_dir())) << run.start.err;
  // A path that does not exist is named as given.
  run = start_instance(4, 1, path("a"), {"-d", path("devnp-gone.so")});
  EXPECT_NE(run.start.exit_code, 0);
  EXPECT_TRUE(contains(run.start.err, path("devnp-gone.so"))) << run.start.err;
}

TEST_F(ProcessOptions, DriverWithAnotherAbiVersionIsRefused) {
  ASSERT_TRUE(file_exists(extra_module_dir() + "/devnp-badabi.so"))
      << "build the test module devnp-badabi";
  IoPktRun run = start_instance(4, 1, path("a"), {"-d", "badabi"});
  EXPECT_NE(run.start.exit_code, 0);
  EXPECT_TRUE(contains(run.start.err, "ABI version")) << run.start.err;
  EXPECT_TRUE(contains(run.start.err, "devnp-badabi.so")) << run.start.err;
  EXPECT_TRUE(contains(run.start.err, std::to_string(IOPKT_DRIVER_ABI_VERSION + 1000)))
      << run.start.err;
}

TEST_F(ProcessOptions, DriverRefusesUnknownOption) {
  ASSERT_TRUE(file_exists(extra_module_dir() + "/devnp-testnic.so"));
  IoPktRun run = start_instance(4, 1, path("a"), {"-d", "testnic", "bogus=1"});
  EXPECT_NE(run.start.exit_code, 0);
  EXPECT_TRUE(contains(run.start.err, "bogus")) << run.start.err;
  EXPECT_FALSE(file_exists(endpoint_of(path("a"))));
}

TEST_F(ProcessOptions, DriverOptionsWithSpaces) {
  IoPktRun run = start_instance(4, 1, path("a"), {"-d", "testnic", "count=1", "maxmtu=1500"});
  EXPECT_NE(run.start.exit_code, 0);
  EXPECT_TRUE(contains(run.start.err, "maxmtu")) << run.start.err;
  EXPECT_TRUE(contains(run.start.err, "comma")) << run.start.err;
}

TEST_F(ProcessOptions, DriverAttachFailureIsReported) {
  // The driver makes an interface, then fails: the start-up is refused with
  // the driver's message (instances_test checks, through mount, that the
  // interface made is not left behind).
  IoPktRun run = start_instance(4, 1, path("a"), {"-d", "testnic", "fail"});
  EXPECT_NE(run.start.exit_code, 0);
  EXPECT_TRUE(contains(run.start.err, "option fail")) << run.start.err;
}

TEST_F(ProcessOptions, GenericDriverOptionsApplied) {
  IoPktRun run = expect_started(
      4, {"-d", "testnic", "name=wan,unit=3,mac=02:00:5e:00:53:01,mtu=1400", "-d", "testnic"});
  ASSERT_TRUE(run.start.ok());
  auto ifs = if_list(path("a"));
  ASSERT_TRUE(ifs);
  const iopkt_ctl_if_info* wan = find_if(*ifs, "wan3");
  ASSERT_NE(wan, nullptr) << "no wan3 among " << ifs->size() << " interfaces";
  const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x00, 0x53, 0x01};
  EXPECT_EQ(std::memcmp(wan->mac, mac, 6), 0);
  EXPECT_EQ(wan->mtu, 1400u);
  EXPECT_STREQ(wan->driver, "testnic");
  EXPECT_EQ(wan->link_type, static_cast<uint32_t>(IOPKT_LINK_ETHER));
  // The second, without generic options: the driver's prefix, first free
  // unit, its own MAC and MTU.
  const iopkt_ctl_if_info* tn = find_if(*ifs, "tn0");
  ASSERT_NE(tn, nullptr);
  EXPECT_EQ(tn->mtu, 1500u);
  EXPECT_EQ(tn->mac[0], 0x02);
  EXPECT_NE(std::memcmp(tn->mac, mac, 6), 0);
  // lo0 is there too.
  EXPECT_NE(find_if(*ifs, "lo0"), nullptr);
}

TEST_F(ProcessOptions, GenericDriverOptionsMalformed) {
  expect_refused(4, {"-d", "testnic", "mac=01:00:5e:00:00:01"}, {"mac="});  // multicast
  expect_refused(4, {"-d", "testnic", "mac=0200"}, {"mac="});
  expect_refused(4, {"-d", "testnic", "mtu=abc"}, {"mtu="});
  expect_refused(4, {"-d", "testnic", "unit=x"}, {"unit="});
  // Beyond what the driver carries (testnic: 9000).
  expect_refused(4, {"-d", "testnic", "mtu=9500"}, {"mtu"});
}

TEST_F(ProcessOptions, NegativeUnitIsIgnored) {
  IoPktRun run = expect_started(4, {"-d", "testnic", "unit=-1"});
  ASSERT_TRUE(run.start.ok());
  auto ifs = if_list(path("a"));
  ASSERT_TRUE(ifs);
  EXPECT_NE(find_if(*ifs, "tn0"), nullptr);
}

TEST_F(ProcessOptions, RecvCtxtClampedWithANote) {
  const std::string err = path("recv.err");
  IoPktRun run = start_foreground(
      4, {"-i", "1", "-p", "tcpip", "prefix=" + path("a") + ",recv_ctxt=100"}, path("a"), err);
  ASSERT_TRUE(run.start.ok()) << run.start.describe();
  std::string log = read_file(err);
  EXPECT_TRUE(contains(log, "recv_ctxt=100")) << log;
  EXPECT_TRUE(contains(log, "2048")) << log;
  EXPECT_EQ(sysctl_get(path("a"), "qnx.tcpip.recv_ctxt"), "2048");
  auto status = terminate_child(run.pid);
  ASSERT_TRUE(status) << "no exit within 10 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status;
}

TEST_F(ProcessOptions, MclbytesRoundedToAPowerOfTwoAndUsedByThePools) {
  const std::string err = path("mcl.err");
  IoPktRun run = start_foreground(
      4, {"-i", "1", "-p", "tcpip", "prefix=" + path("a") + ",mclbytes=3000,recv_ctxt=999999"},
      path("a"), err);
  ASSERT_TRUE(run.start.ok()) << run.start.describe();
  std::string log = read_file(err);
  EXPECT_TRUE(contains(log, "mclbytes=3000")) << log;
  EXPECT_TRUE(contains(log, "recv_ctxt=999999")) << log;
  EXPECT_EQ(sysctl_get(path("a"), "qnx.tcpip.mclbytes"), "4096");
  EXPECT_EQ(sysctl_get(path("a"), "qnx.tcpip.recv_ctxt"), std::to_string(512 * 1024));
  EXPECT_EQ(sysctl_get(path("a"), "kern.mbuf.mclbytes"), "4096");
}

TEST_F(ProcessOptions, CacheOffReachesThePools) {
  IoPktRun run = expect_started(4, {}, 1, "cache=0,pagesize=65536");
  ASSERT_TRUE(run.start.ok());
  EXPECT_EQ(sysctl_get(path("a"), "kern.mbuf.pagesize"), "65536");
}

TEST_F(ProcessOptions, HelpExitsZero) {
  RunResult r = run_program({io_pkt_path(4), "-h"}, env(), root());
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_TRUE(contains(r.err + r.out, "usage")) << r.describe();
}

}  // namespace
}  // namespace iopkt::test
