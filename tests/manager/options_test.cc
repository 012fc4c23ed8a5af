// tests/manager/options_test.cc — the io-pkt command line and `-p tcpip`
// options (SPEC §1): a matrix that walks the option table (valid value,
// invalid value, clamping), then the rules between options and the command
// line's own syntax.
#include "manager/options.hh"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

namespace iopkt {
namespace {

using Kind = TcpipOptionKind;
using Status = TcpipOptionStatus;

Result<ParsedOptions, std::string> parse(int variant, std::initializer_list<const char*> argv) {
  std::vector<std::string> args(argv.begin(), argv.end());
  return parse_command_line(variant, args);
}

struct Tcpip {
  TcpipOptions opts;
  std::vector<std::string> notes;
  std::string error;
  bool ok = false;
};

Tcpip tcpip(std::string_view list, int variant = 6) {
  Tcpip t;
  auto r = parse_tcpip_options(list, variant, t.opts, t.notes);
  t.ok = r.ok();
  if (!r.ok()) {
    t.error = r.error();
  }
  return t;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) {
    s += x + "\n";
  }
  return s;
}

std::string name_of(const TcpipOptionInfo& info) { return std::string(info.name); }

// --- parse_int ----------------------------------------------------------------

TEST(ParseInt, AcceptsDecimalHexAndSign) {
  EXPECT_EQ(parse_int("0"), 0);
  EXPECT_EQ(parse_int("2048"), 2048);
  EXPECT_EQ(parse_int("-17"), -17);
  EXPECT_EQ(parse_int("0x800"), 2048);
  EXPECT_EQ(parse_int("0XfF"), 255);
  EXPECT_EQ(parse_int("-0x10"), -16);
  EXPECT_EQ(parse_int("010"), 10);  // decimal, not octal
  EXPECT_EQ(parse_int("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(parse_int("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(parse_int("0x7fffffffffffffff"), INT64_MAX);
}

TEST(ParseInt, RefusesMalformedAndOverflow) {
  for (const char* bad : {"", "-", "0x", "-0x", "abc", "12abc", " 1", "1 ", "+1", "--1", "0x-1",
                          "1.5", "0x1g", "9223372036854775808", "-9223372036854775809",
                          "99999999999999999999999", "0x10000000000000000"}) {
    EXPECT_FALSE(parse_int(bad).has_value()) << "'" << bad << "'";
  }
}

// --- split_option_list -------------------------------------------------------

TEST(SplitOptionList, SplitsKeysAndValues) {
  auto r = split_option_list("a=1,b,c=,d=x=y");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].key, "a");
  EXPECT_EQ((*r)[0].value, "1");
  EXPECT_TRUE((*r)[0].has_value);
  EXPECT_EQ((*r)[1].key, "b");
  EXPECT_FALSE((*r)[1].has_value);
  EXPECT_EQ((*r)[2].key, "c");
  EXPECT_TRUE((*r)[2].has_value);
  EXPECT_EQ((*r)[2].value, "");
  EXPECT_EQ((*r)[3].key, "d");
  EXPECT_EQ((*r)[3].value, "x=y");  // split at the first '=' only
}

TEST(SplitOptionList, EmptyListIsNoOptions) {
  auto r = split_option_list("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(SplitOptionList, RefusesEmptyItemsSpacesAndNamelessItems) {
  for (const char* bad :
       {",", "a,,b", ",a", "a,", "a b", "a=1 ,b", "a\tb", "=1", "a,=2", "a\x01"}) {
    auto r = split_option_list(bad);
    ASSERT_FALSE(r.ok()) << "'" << bad << "'";
    EXPECT_TRUE(contains(r.error(), bad)) << r.error();  // names the list
  }
  auto r = split_option_list("prefix=/a forward");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "commas, not spaces")) << r.error();
}

// --- the table ---------------------------------------------------------------

TEST(TcpipTable, EntriesAreConsistent) {
  const TcpipOptions defaults;
  std::set<std::string> names;
  for (const TcpipOptionInfo& info : tcpip_option_table()) {
    SCOPED_TRACE(name_of(info));
    EXPECT_TRUE(names.insert(name_of(info)).second) << "duplicate";
    EXPECT_EQ(find_tcpip_option(info.name), &info);
    EXPECT_FALSE(info.description.empty());
    if (info.status != Status::kImplemented) {
      EXPECT_FALSE(info.arrives_with.empty());
    }
    switch (info.kind) {
      case Kind::kFlag:
      case Kind::kFlagOrBool:
      case Kind::kBool:
        ASSERT_NE(info.bool_field, nullptr);
        EXPECT_EQ(defaults.*info.bool_field, info.default_value != 0);
        break;
      case Kind::kInt:
      case Kind::kIntStrict:
      case Kind::kPow2:
        ASSERT_NE(info.int_field, nullptr);
        EXPECT_LE(info.min, info.max);
        EXPECT_EQ(defaults.*info.int_field, info.default_value);
        if (info.default_value != 0 || info.min == 0) {
          EXPECT_GE(info.default_value, info.min);  // pagesize: 0 = the system's
          EXPECT_LE(info.default_value, info.max);
        }
        break;
      case Kind::kFlagOrInt:
        ASSERT_NE(info.optional_field, nullptr);
        EXPECT_FALSE((defaults.*info.optional_field).has_value());
        EXPECT_GE(info.default_value, info.min);
        EXPECT_LE(info.default_value, info.max);
        break;
      case Kind::kString:
      case Kind::kPath:
      case Kind::kGidFibMap:
        ASSERT_NE(info.string_field, nullptr);
        break;
    }
  }
  EXPECT_EQ(find_tcpip_option("no_such_option"), nullptr);
  // SPEC §1's table and the six io-pkt extras are all there.
  for (const char* n : {"bigpage_strict",
                        "bigstack",
                        "cache",
                        "confstr_monitor",
                        "fastforward",
                        "forward",
                        "forward6",
                        "mfib_gid_map",
                        "ipsec",
                        "mbuf_cache",
                        "mclbytes",
                        "num_tap_interface",
                        "num_tun_control_interface",
                        "pagesize",
                        "pfil_ipsec",
                        "pkt_cache",
                        "pkt_typed_mem",
                        "prefix",
                        "random",
                        "recv_ctxt",
                        "reuseport_unicast",
                        "rx_prio",
                        "rx_pulse_prio",
                        "somaxconn",
                        "stackguard",
                        "stacksize",
                        "threads_incr",
                        "threads_max",
                        "threads_min",
                        "timer_pulse_prio",
                        "no_rst_validation",
                        "reply_ctxt",
                        "strict_ts",
                        "mtag_cache",
                        "timertol",
                        "nocryptodev",
                        "so_txprio_enable"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
}

// A value each kind accepts, and what the field then holds (as sysctl text).
struct ValidCase {
  std::string list;
  std::string expect_text;
};

ValidCase valid_case(const TcpipOptionInfo& info) {
  const std::string n = name_of(info);
  switch (info.kind) {
    case Kind::kFlag:
      return {n, "1"};
    case Kind::kFlagOrBool:
      return {n, "1"};
    case Kind::kBool:
      return {n + "=0", "0"};
    case Kind::kInt:
    case Kind::kIntStrict:
      return {n + "=" + std::to_string(info.min + 1), std::to_string(info.min + 1)};
    case Kind::kPow2:
      return {n + "=" + std::to_string(info.min * 2), std::to_string(info.min * 2)};
    case Kind::kFlagOrInt:
      return {n + "=" + std::to_string(info.min + 16), std::to_string(info.min + 16)};
    case Kind::kString:
      return {n + "=ram/dma", "ram/dma"};
    case Kind::kPath:
      return {n + "=/alt", "/alt"};
    case Kind::kGidFibMap:
      return {n + "=750=1;760=2", "750=1;760=2"};
  }
  return {};
}

// Options tied to another (threads_min <= threads_max) are tested with the
// other set wide open, so that only the option's own range applies.
std::string context_for(const TcpipOptionInfo& info) {
  if (info.name == "threads_min" || info.name == "threads_max") {
    return "threads_min=4,threads_max=65536,";
  }
  return "";
}

TEST(TcpipTable, EveryOptionAcceptsAValidValue) {
  for (const TcpipOptionInfo& info : tcpip_option_table()) {
    SCOPED_TRACE(name_of(info));
    ValidCase c = valid_case(info);
    Tcpip t = tcpip(context_for(info) + c.list, 6);
    ASSERT_TRUE(t.ok) << c.list << ": " << t.error;
    EXPECT_EQ(tcpip_option_value_text(t.opts, info), c.expect_text);
    EXPECT_EQ(std::count(t.opts.given.begin(), t.opts.given.end(), name_of(info)), 1);
    EXPECT_TRUE(t.notes.empty()) << joined(t.notes);
  }
}

TEST(TcpipTable, FlagsAndBooleansTakeBothFormsAsDeclared) {
  for (const TcpipOptionInfo& info : tcpip_option_table()) {
    const std::string n = name_of(info);
    SCOPED_TRACE(n);
    if (info.kind == Kind::kFlagOrBool || info.kind == Kind::kBool) {
      Tcpip off = tcpip(n + "=0");
      ASSERT_TRUE(off.ok) << off.error;
      EXPECT_FALSE(off.opts.*info.bool_field);
      Tcpip on = tcpip(n + "=1");
      ASSERT_TRUE(on.ok) << on.error;
      EXPECT_TRUE(on.opts.*info.bool_field);
      Tcpip bare = tcpip(n);
      EXPECT_EQ(bare.ok, info.kind == Kind::kFlagOrBool) << bare.error;
      if (!bare.ok) {
        EXPECT_TRUE(contains(bare.error, n)) << bare.error;
      }
    }
  }
}

TEST(TcpipTable, EveryOptionRefusesMalformedValuesByName) {
  for (const TcpipOptionInfo& info : tcpip_option_table()) {
    const std::string n = name_of(info);
    std::vector<std::string> bad;
    switch (info.kind) {
      case Kind::kFlag:
        bad = {n + "=2", n + "=1", n + "=", n + "=yes"};
        break;
      case Kind::kFlagOrBool:
        bad = {n + "=2", n + "=", n + "=on", n + "=-1"};
        break;
      case Kind::kBool:
        bad = {n, n + "=2", n + "=", n + "=off"};
        break;
      case Kind::kInt:
      case Kind::kIntStrict:
      case Kind::kPow2:
        bad = {n,         n + "=",   n + "=abc", n + "=12abc",
               n + "=-1", n + "=0x", n + "=1.5", n + "=99999999999999999999"};
        break;
      case Kind::kFlagOrInt:
        bad = {n + "=", n + "=abc", n + "=-5"};
        break;
      case Kind::kString:
        bad = {n, n + "="};
        break;
      case Kind::kPath:
        bad = {n, n + "=alt", n + "=./alt"};
        break;
      case Kind::kGidFibMap:
        bad = {n,
               n + "=",
               n + "=abc",
               n + "=750=x",
               n + "=750=16",
               n + "=750;750",
               n + "=750=1;760",
               n + "=;750",
               n + "=750;",
               n + "=-1"};
        break;
    }
    for (const std::string& list : bad) {
      SCOPED_TRACE(list);
      Tcpip t = tcpip(list);
      ASSERT_FALSE(t.ok);
      EXPECT_TRUE(contains(t.error, n)) << t.error;
      // A value, when there is one, is quoted back.
      size_t eq = list.find('=');
      if (eq != std::string::npos && eq + 1 < list.size()) {
        EXPECT_TRUE(contains(t.error, list.substr(eq + 1))) << t.error;
      }
      EXPECT_TRUE(t.opts.given.empty());  // a refused list changes nothing
    }
  }
}

TEST(TcpipTable, NumbersOutOfRangeAreClampedWithANote) {
  for (const TcpipOptionInfo& info : tcpip_option_table()) {
    const std::string n = name_of(info);
    if (info.kind != Kind::kInt && info.kind != Kind::kPow2 && info.kind != Kind::kFlagOrInt) {
      continue;
    }
    SCOPED_TRACE(n);
    auto value_of = [&](const Tcpip& t) {
      return info.kind == Kind::kFlagOrInt ? (t.opts.*info.optional_field).value_or(-1)
                                           : t.opts.*info.int_field;
    };
    if (info.min > 0) {
      Tcpip low = tcpip(context_for(info) + n + "=" + std::to_string(info.min - 1));
      ASSERT_TRUE(low.ok) << low.error;
      EXPECT_EQ(value_of(low), info.min);
      ASSERT_FALSE(low.notes.empty());
      EXPECT_TRUE(contains(low.notes[0], n)) << low.notes[0];
      EXPECT_TRUE(contains(low.notes[0], "minimum " + std::to_string(info.min))) << low.notes[0];
    }
    Tcpip high = tcpip(context_for(info) + n + "=" + std::to_string(info.max + 1));
    ASSERT_TRUE(high.ok) << high.error;
    EXPECT_EQ(value_of(high), info.max);
    ASSERT_FALSE(high.notes.empty());
    EXPECT_TRUE(contains(high.notes[0], "maximum " + std::to_string(info.max))) << high.notes[0];
    Tcpip huge = tcpip(context_for(info) + n + "=0x7fffffffffffffff");
    ASSERT_TRUE(huge.ok) << huge.error;
    EXPECT_EQ(value_of(huge), info.max);
  }
}

TEST(TcpipTable, StrictNumbersOutOfRangeAreRefused) {
  for (const TcpipOptionInfo& info : tcpip_option_table()) {
    if (info.kind != Kind::kIntStrict) {
      continue;
    }
    const std::string n = name_of(info);
    Tcpip t = tcpip(n + "=" + std::to_string(info.max + 1));
    ASSERT_FALSE(t.ok) << n;
    EXPECT_TRUE(contains(t.error, n)) << t.error;
    EXPECT_TRUE(contains(t.error, std::to_string(info.max + 1))) << t.error;
  }
}

TEST(TcpipTable, V6OnlyOptionsAreRefusedOnV4ByVariant) {
  int v6_only = 0;
  for (const TcpipOptionInfo& info : tcpip_option_table()) {
    if (!info.v6_only) {
      continue;
    }
    ++v6_only;
    ValidCase c = valid_case(info);
    Tcpip v4 = tcpip(c.list, 4);
    ASSERT_FALSE(v4.ok);
    EXPECT_TRUE(contains(v4.error, name_of(info))) << v4.error;
    EXPECT_TRUE(contains(v4.error, "io-pkt-v6-hc")) << v4.error;
    EXPECT_TRUE(tcpip(c.list, 6).ok);
  }
  EXPECT_GE(v6_only, 1);  // forward6
}

// --- unimplemented options -----------------------------------------------------

TEST(Unimplemented, ImplementedSetIsTheBuildsAndOthersAreNamed) {
  // What this build implements (one place to flip: the table's status).
  const std::set<std::string> implemented = {"prefix",
                                             "cache",
                                             "mclbytes",
                                             "pagesize",
                                             "mbuf_cache",
                                             "pkt_cache",
                                             "pkt_typed_mem",
                                             "recv_ctxt",
                                             "rx_prio",
                                             "rx_pulse_prio",
                                             "timer_pulse_prio",
                                             "random",
                                             "bigstack",
                                             "stacksize",
                                             "stackguard",
                                             "confstr_monitor",
                                             "rgroup_allowed",
                                             "endpoint_group",
                                             "reuseport_unicast",
                                             "mfib_gid_map",
                                             "somaxconn",
                                             "no_rst_validation"};
  for (const TcpipOptionInfo& info : tcpip_option_table()) {
    const std::string n = name_of(info);
    SCOPED_TRACE(n);
    EXPECT_EQ(info.status == Status::kImplemented, implemented.count(n) == 1);
    Tcpip t = tcpip(valid_case(info).list);
    ASSERT_TRUE(t.ok) << t.error;
    std::vector<std::string> msgs = unimplemented_tcpip_options(t.opts);
    if (info.status == Status::kImplemented) {
      EXPECT_TRUE(msgs.empty()) << joined(msgs);
      continue;
    }
    // fastforward=... also turns forward on, which is not given: one message.
    ASSERT_EQ(msgs.size(), 1u) << joined(msgs);
    EXPECT_TRUE(contains(msgs[0], "'" + n + "'")) << msgs[0];
    EXPECT_TRUE(contains(msgs[0], info.arrives_with)) << msgs[0];
    if (info.status == Status::kPlanned) {
      EXPECT_TRUE(contains(msgs[0], "is not supported yet (arrives with ")) << msgs[0];
    } else {
      EXPECT_TRUE(contains(msgs[0], "is not supported by iopkt")) << msgs[0];
    }
  }
}

TEST(Unimplemented, OneMessagePerGivenOptionInOrder) {
  Tcpip t = tcpip("forward,prefix=/a,ipsec,forward,reply_ctxt=64");
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.opts.given, (std::vector<std::string>{"forward", "prefix", "ipsec", "reply_ctxt"}));
  auto msgs = unimplemented_tcpip_options(t.opts);
  ASSERT_EQ(msgs.size(), 3u) << joined(msgs);
  EXPECT_TRUE(contains(msgs[0], "'forward'"));
  EXPECT_TRUE(contains(msgs[1], "'ipsec'"));
  EXPECT_TRUE(contains(msgs[2], "'reply_ctxt'"));
  EXPECT_TRUE(unimplemented_tcpip_options(TcpipOptions{}).empty());
}

// --- rules of particular options -----------------------------------------------

TEST(TcpipOptionRules, RecvCtxtClampNote) {
  Tcpip t = tcpip("recv_ctxt=100");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.recv_ctxt, 2048);
  ASSERT_EQ(t.notes.size(), 1u);
  EXPECT_EQ(t.notes[0], "recv_ctxt=100 is below the minimum 2048; using 2048");
  t = tcpip("recv_ctxt=0x100000");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.recv_ctxt, 524288);
}

TEST(TcpipOptionRules, MclbytesIsAPowerOfTwoIn2KTo16K) {
  struct {
    const char* list;
    int64_t want;
    bool note;
  } cases[] = {{"mclbytes=2048", 2048, false},  {"mclbytes=3000", 4096, true},
               {"mclbytes=4097", 8192, true},   {"mclbytes=100", 2048, true},
               {"mclbytes=0", 2048, true},      {"mclbytes=16385", 16384, true},
               {"mclbytes=0x2000", 8192, false}};
  for (const auto& c : cases) {
    Tcpip t = tcpip(c.list);
    ASSERT_TRUE(t.ok) << c.list << ": " << t.error;
    EXPECT_EQ(t.opts.mclbytes, c.want) << c.list;
    EXPECT_EQ(!t.notes.empty(), c.note) << c.list << ": " << joined(t.notes);
  }
}

TEST(TcpipOptionRules, MclbytesNeverExceedsPagesize) {
  Tcpip t = tcpip("mclbytes=16384,pagesize=4096");
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.opts.pagesize, 4096);
  EXPECT_EQ(t.opts.mclbytes, 4096);
  EXPECT_FALSE(t.notes.empty());
  t = tcpip("pagesize=5000");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.pagesize, 8192);
  EXPECT_EQ(t.opts.mclbytes, 2048);
}

TEST(TcpipOptionRules, ForwardAndFastforwardImplyEachOtherInAnyOrder) {
  struct {
    const char* list;
    bool forward, fastforward;
  } cases[] = {
      {"forward", true, true},
      {"forward,fastforward=0", true, false},
      {"fastforward=0,forward", true, false},
      {"fastforward=1", true, true},
      {"fastforward", true, true},
      {"fastforward=0", false, false},
      {"fastforward=1,fastforward=0", false, false},  // last wins; forward not given
      {"prefix=/a", false, false},
  };
  for (const auto& c : cases) {
    Tcpip t = tcpip(c.list);
    ASSERT_TRUE(t.ok) << c.list << ": " << t.error;
    EXPECT_EQ(t.opts.forward, c.forward) << c.list;
    EXPECT_EQ(t.opts.fastforward, c.fastforward) << c.list;
  }
  // Across two -p tcpip lists, too.
  auto r = parse(4, {"-p", "tcpip", "forward", "-ptcpip", "fastforward=0"});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->options.tcpip.forward);
  EXPECT_FALSE(r->options.tcpip.fastforward);
}

TEST(TcpipOptionRules, ThreadsMinStaysAtOrBelowThreadsMax) {
  Tcpip t = tcpip("threads_min=300");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.threads_min, 200);
  EXPECT_FALSE(t.notes.empty());
  t = tcpip("threads_max=10");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.threads_max, 15);  // io-pkt raises it to threads_min
  t = tcpip("threads_min=4,threads_max=10");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.threads_min, 4);
  EXPECT_EQ(t.opts.threads_max, 10);
  EXPECT_TRUE(t.notes.empty()) << joined(t.notes);
  t = tcpip("threads_max=1000,threads_min=300,threads_incr=1");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.threads_min, 300);
  EXPECT_EQ(t.opts.threads_incr, 4);  // io-pkt: at least 4
}

TEST(TcpipOptionRules, StackguardRoundsStacksizeUpToPages) {
  const long page = sysconf(_SC_PAGESIZE);
  ASSERT_GT(page, 0);
  Tcpip t = tcpip("stacksize=" + std::to_string(page * 3 + 1) + ",stackguard");
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.opts.stacksize, page * 4);
  ASSERT_EQ(t.notes.size(), 1u) << joined(t.notes);
  EXPECT_TRUE(contains(t.notes[0], "stackguard"));
  t = tcpip("stacksize=" + std::to_string(page * 3 + 1));  // without stackguard: as given
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.stacksize, page * 3 + 1);
}

TEST(TcpipOptionRules, BigstackDefaultsAndMustExceedStacksize) {
  Tcpip t = tcpip("bigstack");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.bigstack, 128 * 1024);
  t = tcpip("bigstack=40000,stacksize=65536");
  ASSERT_TRUE(t.ok);
  EXPECT_FALSE(t.opts.bigstack.has_value());
  ASSERT_EQ(t.notes.size(), 1u);
  EXPECT_TRUE(contains(t.notes[0], "bigstack=40000"));
  EXPECT_EQ(tcpip_option_value_text(t.opts, *find_tcpip_option("bigstack")), "");
}

TEST(TcpipOptionRules, MfibGidMapBothForms) {
  Tcpip t = tcpip("mfib_gid_map=750=1;760=2");
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.opts.mfib_gid_map, "750=1;760=2");
  EXPECT_EQ(t.opts.mfib_map, (std::vector<std::pair<uint32_t, uint32_t>>{{750, 1}, {760, 2}}));
  t = tcpip("mfib_gid_map=750;760;0x300");
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.opts.mfib_map,
            (std::vector<std::pair<uint32_t, uint32_t>>{{750, 0}, {760, 1}, {768, 2}}));
  EXPECT_EQ(tcpip_option_value_text(t.opts, *find_tcpip_option("mfib_gid_map")),
            "750=0;760=1;768=2");
  t = tcpip("mfib_gid_map=1=15");
  EXPECT_TRUE(t.ok) << t.error;
  // 16 FIBs at most (io-pkt's FIBS_MAX): 16 groups fit, 17 do not.
  std::string list = "mfib_gid_map=";
  for (int g = 0; g < 16; ++g) {
    list += (g ? ";" : "") + std::to_string(1000 + g);
  }
  EXPECT_TRUE(tcpip(list).ok);
  Tcpip over = tcpip(list + ";2000");
  ASSERT_FALSE(over.ok);
  EXPECT_TRUE(contains(over.error, "mfib_gid_map"));
  // Given again, the last list wins whole.
  t = tcpip("mfib_gid_map=1;2,mfib_gid_map=3=4");
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.opts.mfib_map, (std::vector<std::pair<uint32_t, uint32_t>>{{3, 4}}));
}

TEST(TcpipOptionRules, PrefixIsAbsoluteOrEmpty) {
  Tcpip t = tcpip("prefix=");
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.opts.prefix, "");
  EXPECT_EQ(t.opts.given, std::vector<std::string>{"prefix"});
  t = tcpip("prefix=/tmp/x");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.prefix, "/tmp/x");
  EXPECT_FALSE(tcpip("prefix=" + std::string(2000, 'a')).ok);
  EXPECT_FALSE(tcpip("prefix=/" + std::string(2000, 'a')).ok);
}

TEST(TcpipOptionRules, UnknownOptionIsRefusedByName) {
  Tcpip t = tcpip("prefix=/a,frobnicate=1");
  ASSERT_FALSE(t.ok);
  EXPECT_TRUE(contains(t.error, "'frobnicate'")) << t.error;
  EXPECT_TRUE(t.opts.prefix.empty());  // nothing of a refused list is kept
  t = tcpip("threads=10");
  ASSERT_FALSE(t.ok);
  EXPECT_TRUE(contains(t.error, "threads_max")) << t.error;
}

TEST(TcpipOptionRules, RxPulsePrioIsRxPrio) {
  Tcpip t = tcpip("rx_pulse_prio=30");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.rx_prio, 30);
  t = tcpip("rx_prio=300");
  ASSERT_TRUE(t.ok);
  EXPECT_EQ(t.opts.rx_prio, 255);
}

// --- the command line ------------------------------------------------------------

TEST(CommandLine, Defaults) {
  auto r = parse(4, {});
  ASSERT_TRUE(r.ok()) << r.error();
  const ManagerOptions& m = r->options;
  EXPECT_EQ(m.variant, 4);
  EXPECT_EQ(m.instance, 0);
  EXPECT_EQ(m.priority, 21);
  EXPECT_EQ(m.threads, 0);
  EXPECT_EQ(m.drop_user, "99:99,120");
  EXPECT_FALSE(m.no_segv_handler);
  EXPECT_FALSE(m.foreground);
  EXPECT_TRUE(m.drivers.empty());
  EXPECT_TRUE(m.protocols.empty());
  EXPECT_TRUE(m.tcpip.given.empty());
  EXPECT_TRUE(r->notes.empty());
  EXPECT_FALSE(parse_command_line(5, {}).ok());
}

TEST(CommandLine, AttachedAndSeparateValues) {
  for (auto argv :
       {std::initializer_list<const char*>{"-i1", "-P30", "-t2", "-ptcpip", "prefix=/alt",
                                           "-Unobody,5", "-S", "-f"},
        std::initializer_list<const char*>{"-i", "1", "-P", "30", "-t", "2", "-p", "tcpip",
                                           "prefix=/alt", "-U", "nobody,5", "-Sf"}}) {
    auto r = parse(4, argv);
    ASSERT_TRUE(r.ok()) << r.error();
    const ManagerOptions& m = r->options;
    EXPECT_EQ(m.instance, 1);
    EXPECT_EQ(m.priority, 30);
    EXPECT_EQ(m.threads, 2);
    EXPECT_EQ(m.tcpip.prefix, "/alt");
    EXPECT_EQ(m.drop_user, "nobody,5");
    EXPECT_TRUE(m.no_segv_handler);
    EXPECT_TRUE(m.foreground);
  }
  // The seed's example, and a cluster of flags ending in a valued option.
  auto r = parse(4, {"-i1", "-ptcpip", "prefix=/alt"});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->options.instance, 1);
  r = parse(4, {"-Si3"});
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->options.no_segv_handler);
  EXPECT_EQ(r->options.instance, 3);
}

TEST(CommandLine, DriversRepeatInOrderWithTheirOptions) {
  auto r = parse(6, {"-d", "vwire", "wire=a,loss=1", "-dtap", "-d", "/opt/x/devnp-foo.so",
                     "name=wan,unit=2", "-d", "vwire", "wire=b"});
  ASSERT_TRUE(r.ok()) << r.error();
  const auto& d = r->options.drivers;
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].name, "vwire");
  EXPECT_EQ(d[0].options, "wire=a,loss=1");
  EXPECT_EQ(d[1].name, "tap");
  EXPECT_EQ(d[1].options, "");
  EXPECT_EQ(d[2].name, "/opt/x/devnp-foo.so");
  EXPECT_EQ(d[2].options, "name=wan,unit=2");
  EXPECT_EQ(d[3].name, "vwire");
  EXPECT_EQ(d[3].options, "wire=b");
}

TEST(CommandLine, SpaceInsteadOfCommaNamesTheStrayWord) {
  auto r = parse(4, {"-p", "tcpip", "prefix=/a", "forward"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "'forward'")) << r.error();
  EXPECT_TRUE(contains(r.error(), "separated by commas, not spaces")) << r.error();
  EXPECT_TRUE(contains(r.error(), "prefix=/a,forward")) << r.error();  // the fix
  r = parse(4, {"-d", "vwire", "wire=a", "loss=1"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "'loss=1'")) << r.error();
  EXPECT_TRUE(contains(r.error(), "commas")) << r.error();
  r = parse(4, {"stray"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "'stray'")) << r.error();
  EXPECT_TRUE(contains(r.error(), "commas, not spaces")) << r.error();
  r = parse(4, {"-p", "tcpip", "prefix=/a", "-S", "forward"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "'forward'")) << r.error();
  // A space inside one argument (quoted in the shell) is caught too.
  r = parse(4, {"-p", "tcpip", "prefix=/a forward"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "commas, not spaces")) << r.error();
  r = parse(4, {"-d", "vwire", "wire=a loss=1"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "vwire")) << r.error();
}

TEST(CommandLine, UnknownOptionLetterAndMissingValues) {
  const std::pair<const char*, const char*> unknown[] = {
      {"-x", "-x"}, {"-Sx", "-x"}, {"--help", "--help"}, {"-v", "-v"}, {"-i1", nullptr}};
  for (const auto& [arg, named] : unknown) {
    auto r = parse(4, {"-S", arg});
    if (named == nullptr) {
      EXPECT_TRUE(r.ok()) << arg;
      continue;
    }
    ASSERT_FALSE(r.ok()) << arg;
    EXPECT_TRUE(contains(r.error(), "unknown option")) << r.error();
    EXPECT_TRUE(contains(r.error(), named)) << r.error();
  }
  for (auto argv :
       {std::initializer_list<const char*>{"-i"}, {"-d"}, {"-p"}, {"-U"}, {"-S", "-t"}}) {
    auto r = parse(4, argv);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error(), "needs a value")) << r.error();
  }
  auto r = parse(4, {"-d", "-p", "tcpip"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "driver name")) << r.error();
  r = parse(4, {"-d", "vwire,wire=a"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "vwire,wire=a")) << r.error();
}

TEST(CommandLine, NumericOptionRanges) {
  struct {
    std::initializer_list<const char*> argv;
    bool ok;
  } cases[] = {
      {{"-i", "0"}, true},    {{"-i", "999"}, true},  {{"-i", "1000"}, false},
      {{"-i", "-1"}, false},  {{"-i", "abc"}, false}, {{"-i", "1x"}, false},
      {{"-P", "1"}, true},    {{"-P", "255"}, true},  {{"-P", "0"}, false},
      {{"-P", "256"}, false}, {{"-t", "1"}, true},    {{"-t", "64"}, true},
      {{"-t", "0"}, false},   {{"-t", "65"}, false},  {{"-t", ""}, false},
  };
  for (const auto& c : cases) {
    auto r = parse(4, c.argv);
    std::string shown = std::string(*c.argv.begin()) + " " + *(c.argv.begin() + 1);
    EXPECT_EQ(r.ok(), c.ok) << shown;
    if (!r.ok()) {
      EXPECT_TRUE(contains(r.error(), *c.argv.begin())) << r.error();
    }
  }
  // Given twice: the last wins, as with getopt().
  auto r = parse(4, {"-i", "1", "-i2"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->options.instance, 2);
}

TEST(CommandLine, DropUserSyntax) {
  for (const char* good : {"99:99,120", "0", "1000:1000", "0:0", "nobody", "nobody,5,6",
                           "svc-user_1.x", "host$", "4294967294:1"}) {
    EXPECT_TRUE(validate_drop_user(good).ok()) << good;
    auto r = parse(4, {"-U", good});
    ASSERT_TRUE(r.ok()) << good << ": " << r.error();
    EXPECT_EQ(r->options.drop_user, good);
  }
  for (const char* bad :
       {"", ":1", "99,120", "99:", "99:a", "99:99,", "99:99,,1", "nob ody", "user:5", "-x",
        "4294967295", "99:99,120x", "$x", "nobody,", "a/b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    auto v = validate_drop_user(bad);
    EXPECT_FALSE(v.ok()) << "'" << bad << "'";
    if (!v.ok()) {
      EXPECT_TRUE(contains(v.error(), "-U")) << v.error();
    }
  }
}

TEST(CommandLine, ProtocolsByVariant) {
  auto r = parse(4, {"-p", "pf-v4", "-p", "slip", "ttyname=/dev/pts/3,speed=9600"});
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->options.protocols.size(), 2u);
  EXPECT_EQ(r->options.protocols[0].name, "pf-v4");
  EXPECT_EQ(r->options.protocols[0].options, "");
  EXPECT_EQ(r->options.protocols[1].name, "slip");
  EXPECT_EQ(r->options.protocols[1].options, "ttyname=/dev/pts/3,speed=9600");

  r = parse(6, {"-ppf-v6"});
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->options.protocols.size(), 1u);

  r = parse(4, {"-p", "pf-v6"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "io-pkt-v6-hc")) << r.error();
  EXPECT_TRUE(contains(r.error(), "pf-v4")) << r.error();
  r = parse(6, {"-p", "pf-v4"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "io-pkt-v4-hc")) << r.error();
  r = parse(6, {"-p", "slip"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "io-pkt-v4-hc")) << r.error();
  r = parse(4, {"-p", "ipx"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "'ipx'")) << r.error();

  // A path goes to protocols as given, whatever its name.
  r = parse(6, {"-p", "/opt/x/lsm-foo.so", "a=1"});
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->options.protocols.size(), 1u);
  EXPECT_EQ(r->options.protocols[0].name, "/opt/x/lsm-foo.so");
  EXPECT_EQ(r->options.protocols[0].options, "a=1");
}

TEST(CommandLine, TcpipOptionsMergeAndReportByVariant) {
  auto r = parse(6, {"-p", "tcpip", "prefix=/a,recv_ctxt=100", "-p", "tcpip", "forward6,random"});
  ASSERT_TRUE(r.ok()) << r.error();
  const TcpipOptions& t = r->options.tcpip;
  EXPECT_EQ(t.prefix, "/a");
  EXPECT_EQ(t.recv_ctxt, 2048);
  EXPECT_TRUE(t.forward6);
  EXPECT_TRUE(t.random);
  EXPECT_EQ(t.given, (std::vector<std::string>{"prefix", "recv_ctxt", "forward6", "random"}));
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_TRUE(contains(r->notes[0], "recv_ctxt=100"));
  EXPECT_TRUE(r->options.protocols.empty());  // tcpip is not a module to load

  r = parse(4, {"-p", "tcpip", "forward6"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "forward6")) << r.error();
  EXPECT_TRUE(contains(r.error(), "io-pkt-v6-hc")) << r.error();

  r = parse(4, {"-p", "tcpip", "recv_ctxt=abc"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "recv_ctxt")) << r.error();
  EXPECT_TRUE(contains(r.error(), "abc")) << r.error();

  r = parse(4, {"-p", "tcpip"});  // named only, no options: fine
  ASSERT_TRUE(r.ok()) << r.error();
}

TEST(CommandLine, DoubleDashEndsOptions) {
  EXPECT_TRUE(parse(4, {"-S", "--"}).ok());
  auto r = parse(4, {"--", "-S"});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error(), "'-S'")) << r.error();
}

}  // namespace
}  // namespace iopkt
