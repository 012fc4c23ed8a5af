// fuzz/ip6_input_fuzz.cc — IPv6 input up to the upper layer (ip6_input.cc,
// ip6_reass.cc) and the address text forms (in6.cc), as a sequence of
// actions (STYLE.md §7): raw packets; packets built from extension
// headers with fuzzed contents (options, routing types, fragment fields
// drawn from few ids so that fragments meet); trains of well-formed
// fragments in a fuzzed order; time passing; address text compared with
// inet_pton. After each packet the verdict must be consistent with the
// packet left behind, and at the end no packet buffer may be left.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_reader.hh"
#include "kern/callout.hh"
#include "kern/mbuf.hh"
#include "netinet6/in6.hh"
#include "netinet6/ip6_frames.hh"
#include "netinet6/ip6_input.hh"
#include "netinet6/ip6_reass.hh"

using namespace iopkt;
using namespace iopkt::test;

namespace {

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

const char* const kAddrs[] = {"2001:db8::1", "2001:db8::2", "fe80::1",    "ff02::1",
                              "::",          "::1",         "ff01::1",    "::ffff:192.0.2.1",
                              "ff00::1",     "ff05::1:3",   "2001:db8::3"};

In6Addr addr(FuzzReader& in) {
  return *in6_parse(kAddrs[in.u8() % (sizeof kAddrs / sizeof kAddrs[0])]);
}

void inject(MbufPool& pool, CalloutWheel& wheel, Ip6State& ip6, const std::vector<std::byte>& bytes,
            bool loop) {
  Mbuf m = Mbuf::copy_from(pool, bytes);
  if (!m) {
    return;
  }
  Ip6Chain c = ip6_input_demux(ip6, wheel, m, loop);
  switch (c.verdict) {
    case Ip6Verdict::kDeliver:
      check(m && m.len() == c.len && c.off <= c.len && c.nxt_at < c.off);
      check(c.nxt != kIp6NxtHopOpts && c.nxt != kIp6NxtDstOpts && c.nxt != kIp6NxtRouting &&
            c.nxt != kIp6NxtFragment && c.nxt != kIp6NxtNone);
      break;
    case Ip6Verdict::kParamProblem:
      check(m && m.len() == c.len && c.pp.pointer < c.len && c.reason != nullptr);
      break;
    case Ip6Verdict::kDrop:
      check(!m && c.reason != nullptr);
      break;
    case Ip6Verdict::kHeld:
      check(!m);
      break;
    case Ip6Verdict::kFragment:
      check(false);  // demux never leaves a fragment unhandled
      break;
  }
}

Ip6Ext ext_header(FuzzReader& in) {
  switch (in.u8() % 6) {
    case 0:
      return ip6_hbh(in.bytes(in.u8() % 24));
    case 1:
      return ip6_dstopts(in.bytes(in.u8() % 24));
    case 2:
      return ip6_rthdr(in.u8() % 5, in.u8() % 3, 1 + in.u8() % 2);
    case 3:
      return ip6_frag(static_cast<uint32_t>(in.u8()) * 8, (in.u8() & 1) != 0, in.u8() % 4);
    case 4: {
      // Any header type with raw bytes (a multiple of 8 or not).
      uint8_t type = in.u8();
      auto b = in.bytes(8 * (1 + in.u8() % 3));
      b.resize(std::max<size_t>(b.size(), 2));
      return {type, b};
    }
    default: {
      Ip6Ext h = ip6_dstopts(in.bytes(in.u8() % 16));
      h.bytes[1] = std::byte{in.u8()};  // a length that lies
      return h;
    }
  }
}

const uint8_t kProtos[] = {kIp6NxtUdp, kIp6NxtTcp, kIp6NxtIcmp6, kIp6NxtNone, kIp6NxtEsp, 253};

Ip6Pkt structured(FuzzReader& in) {
  Ip6Pkt p;
  p.src = addr(in);
  p.dst = addr(in);
  p.hlim = in.u8();
  int n = in.u8() % 6;
  for (int k = 0; k < n; ++k) {
    p.ext.push_back(ext_header(in));
  }
  p.proto = kProtos[in.u8() % sizeof kProtos];
  p.payload = in.bytes(in.u16() % 1600);
  if ((in.u8() & 7) == 0) {
    p.plen = in.u16();
  }
  return p;
}

// Text forms: the parser agrees with inet_pton, and what it parses comes
// back out canonical and parses to the same address.
void text(FuzzReader& in) {
  auto raw = in.bytes(in.u8() % 64);
  std::string s;
  for (std::byte b : raw) {
    s.push_back(static_cast<char>(b));
  }
  if (s.find('\0') != std::string::npos) {
    return;  // inet_pton would see a shorter string
  }
  unsigned char want[16];
  bool ok = inet_pton(AF_INET6, s.c_str(), want) == 1;
  auto got = in6_parse(s);
  check(got.has_value() == ok);
  if (got) {
    for (int k = 0; k < 16; ++k) {
      check(got->b[k] == want[k]);
    }
    std::string canon = in6_str(*got);
    auto again = in6_parse(canon);
    check(again && *again == *got && in6_str(*again) == canon);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzReader in{data, size};
  MbufPool pool{PoolConfig{}};
  {
    CalloutWheel wheel;
    Ip6State ip6;
    ip6.reass.time_exceeded = [](Mbuf m) { check(static_cast<bool>(m)); };
    for (int step = 0; step < 64 && in.n > 0; ++step) {
      switch (in.u8() % 5) {
        case 0: {  // a raw packet
          auto b = in.bytes(in.u16() % 2048);
          inject(pool, wheel, ip6, b, (in.u8() & 1) != 0);
          break;
        }
        case 1:  // extension headers with fuzzed contents
          inject(pool, wheel, ip6, structured(in).build(), false);
          break;
        case 2:  // time passes (the reassembly timeout is 60 s)
          wheel.advance(wheel.now() + std::chrono::seconds(in.u8()));
          break;
        case 3:
          text(in);
          break;
        default: {  // a train of well-formed fragments, in a fuzzed order
          Ip6Pkt p;
          p.ext = {ip6_hbh(), ip6_dstopts()};
          size_t unfrag = in.u8() % 2;
          p.payload = in.bytes(in.u16() % 3000);
          std::vector<size_t> cuts;
          size_t total = p.payload.size() + 16 - 8 * unfrag;
          for (int k = in.u8() % 6; k > 0; --k) {
            size_t at = (size_t{in.u16()} % (total + 1)) & ~size_t{7};
            if (at > 0 && at < total && (cuts.empty() || at > cuts.back())) {
              cuts.push_back(at);
            }
          }
          auto frags = ip6_fragments(p, unfrag, in.u8() % 4, cuts);
          for (size_t k = 0; k < frags.size(); ++k) {
            size_t pick = k + in.u8() % (frags.size() - k);
            std::swap(frags[k], frags[pick]);
            inject(pool, wheel, ip6, frags[k], false);
          }
          break;
        }
      }
    }
    check(ip6.reass.mem <= static_cast<size_t>(ip6.reass.maxfragmem));
    ip6_reass_drain(ip6);
  }
  check(pool.stats().mbufs_in_use == 0);
  return 0;
}
