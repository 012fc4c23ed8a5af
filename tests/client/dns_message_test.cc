// tests/client/dns_message_test.cc — the preload resolver's DNS messages
// (client/preload/dns_message.cc, RFC 1035 §4): the query's bytes, answers
// with compression, CNAME chains, the checks against the question, and
// malformed messages (pointer loops, pointers out of bounds, truncation).
#include "client/preload/dns_message.hh"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using iopkt::preload::dns::build_query;
using iopkt::preload::dns::kTypeA;
using iopkt::preload::dns::kTypeAaaa;
using iopkt::preload::dns::kTypeCname;
using iopkt::preload::dns::kTypePtr;
using iopkt::preload::dns::parse_response;
using iopkt::preload::dns::ParseError;
using iopkt::preload::dns::Question;
using iopkt::preload::dns::Rcode;
using iopkt::preload::dns::read_name;

constexpr uint16_t kId = 0x5a17;
constexpr uint16_t kResponse = 0x8180;  // QR, RD, RA, NOERROR
constexpr size_t kQuestionName = 12;    // offset of the question's name

// A message written field by field.
struct Msg {
  std::vector<uint8_t> b;
  Msg& u16(uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  Msg& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v)); }
  Msg& raw(std::initializer_list<uint8_t> v) {
    b.insert(b.end(), v);
    return *this;
  }
  // Labels, then the root (unless `then_ptr` ends the name with a pointer).
  Msg& name(std::string_view text, int then_ptr = -1) {
    while (!text.empty()) {
      size_t dot = text.find('.');
      std::string_view label = text.substr(0, dot);
      b.push_back(static_cast<uint8_t>(label.size()));
      b.insert(b.end(), label.begin(), label.end());
      text = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
    }
    if (then_ptr >= 0) {
      return ptr(static_cast<uint16_t>(then_ptr));
    }
    b.push_back(0);
    return *this;
  }
  Msg& ptr(uint16_t at) { return u16(static_cast<uint16_t>(0xc000 | at)); }
  Msg& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(0).u16(0);
  }
  Msg& question(std::string_view n, uint16_t type) { return name(n).u16(type).u16(1); }
  // Type, class IN, TTL, then the RDATA length (the caller adds the RDATA).
  Msg& rr(uint16_t type, uint16_t rdlen) { return u16(type).u16(1).u32(300).u16(rdlen); }
  size_t size() const { return b.size(); }
};

Question ask(std::string name, uint16_t type = kTypeA) {
  return Question{kId, std::move(name), type};
}

std::string text_addr(const std::array<uint8_t, 16>& a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

// --- the query -----------------------------------------------------------------

TEST(DnsQuery, StandardQueryWithRecursionDesired) {
  std::vector<uint8_t> q;
  ASSERT_TRUE(build_query(ask("web.example.test"), &q));
  Msg want;
  want.header(kId, 0x0100, 1, 0).question("web.example.test", kTypeA);
  EXPECT_EQ(q, want.b);
}

TEST(DnsQuery, TrailingDotIsTheSameName) {
  std::vector<uint8_t> a, b;
  ASSERT_TRUE(build_query(ask("web.example.test."), &a));
  ASSERT_TRUE(build_query(ask("web.example.test"), &b));
  EXPECT_EQ(a, b);
}

TEST(DnsQuery, RefusesNamesThatCannotBeSent) {
  std::vector<uint8_t> q;
  EXPECT_FALSE(build_query(ask("a..b"), &q));
  EXPECT_FALSE(build_query(ask(".a"), &q));
  EXPECT_FALSE(build_query(ask("a.."), &q));
  EXPECT_FALSE(build_query(ask(std::string(64, 'x') + ".test"), &q));  // RFC 1035 §2.3.4
  EXPECT_TRUE(build_query(ask(std::string(63, 'x') + ".test"), &q));
  std::string long_name;
  for (int i = 0; i < 64; ++i) {
    long_name += "abc.";  // 64 * 4 + 1 octets > 255
  }
  long_name += "d";
  EXPECT_FALSE(build_query(ask(long_name), &q));
  EXPECT_FALSE(build_query(ask("a\\.b"), &q));
  EXPECT_TRUE(q.size() > 0);
}

TEST(DnsQuery, QuestionNameReadsBack) {
  std::vector<uint8_t> q;
  ASSERT_TRUE(build_query(ask("Web.Example.TEST", kTypeAaaa), &q));
  size_t pos = kQuestionName;
  auto n = read_name(q, &pos);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, "Web.Example.TEST");
  EXPECT_EQ(pos, q.size() - 4);
}

// --- names -----------------------------------------------------------------------

TEST(DnsName, AmbiguousBytesAreEscaped) {
  Msg m;
  m.raw({3, 'a', '.', 'b', 2, 0x01, '\\', 0});
  size_t pos = 0;
  auto n = read_name(m.b, &pos);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, "a\\.b.\\001\\\\");
  EXPECT_EQ(pos, m.size());
}

TEST(DnsName, PointerMovesPositionPastThePointerOnly) {
  Msg m;
  m.name("example.test").name("web", 0);
  size_t pos = 14;  // "web" + pointer
  auto n = read_name(m.b, &pos);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, "web.example.test");
  EXPECT_EQ(pos, m.size());
}

TEST(DnsName, PointerToItselfIsALoop) {
  Msg m;
  m.ptr(0);
  size_t pos = 0;
  auto n = read_name(m.b, &pos);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error(), ParseError::kBadName);
}

TEST(DnsName, TwoPointersLoopingIsALoop) {
  Msg m;
  m.ptr(2).ptr(0);
  size_t pos = 0;
  auto n = read_name(m.b, &pos);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error(), ParseError::kBadName);
}

TEST(DnsName, LabelsAndPointerLoopStopAt255Octets) {
  Msg m;
  m.name("ab", 0);  // "ab" then back to itself: grows until too long
  size_t pos = 0;
  auto n = read_name(m.b, &pos);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error(), ParseError::kBadName);
}

TEST(DnsName, PointerOutOfBounds) {
  Msg m;
  m.name("web", 0x3fff);
  size_t pos = 0;
  auto n = read_name(m.b, &pos);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error(), ParseError::kBadName);
}

TEST(DnsName, CutOffLabelAndPointer) {
  std::vector<uint8_t> label{5, 'a', 'b'};
  size_t pos = 0;
  auto n = read_name(label, &pos);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error(), ParseError::kTruncated);
  std::vector<uint8_t> half_ptr{0xc0};
  pos = 0;
  n = read_name(half_ptr, &pos);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error(), ParseError::kTruncated);
}

TEST(DnsName, ExtendedLabelTypesAreRefused) {
  std::vector<uint8_t> ext{0x41, 0};
  size_t pos = 0;
  auto n = read_name(ext, &pos);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error(), ParseError::kBadName);
}

// --- answers -----------------------------------------------------------------------

TEST(DnsAnswer, AddressesWithCompressedOwners) {
  Msg m;
  m.header(kId, kResponse | 0x0400, 1, 2).question("web.example.test", kTypeA);
  m.ptr(kQuestionName).rr(kTypeA, 4).raw({192, 0, 2, 1});
  m.ptr(kQuestionName).rr(kTypeA, 4).raw({192, 0, 2, 7});
  auto a = parse_response(m.b, ask("web.example.test"));
  ASSERT_TRUE(a.ok()) << iopkt::preload::dns::parse_error_name(a.error());
  EXPECT_EQ(a->rcode, Rcode::kNoError);
  EXPECT_TRUE(a->authoritative);
  EXPECT_FALSE(a->truncated);
  EXPECT_EQ(a->canonical, "web.example.test");
  EXPECT_TRUE(a->aliases.empty());
  ASSERT_EQ(a->addrs.size(), 2u);
  EXPECT_EQ(text_addr(a->addrs[0]), "192.0.2.1");
  EXPECT_EQ(text_addr(a->addrs[1]), "192.0.2.7");
}

TEST(DnsAnswer, QuestionNameMatchesWhateverTheCase) {
  Msg m;
  m.header(kId, kResponse, 1, 1).question("WEB.example.Test", kTypeA);
  m.ptr(kQuestionName).rr(kTypeA, 4).raw({192, 0, 2, 1});
  auto a = parse_response(m.b, ask("web.example.test"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->addrs.size(), 1u);
}

TEST(DnsAnswer, CnameChainIsFollowed) {
  // alias -> mid -> web (A), the last two in reverse order.
  Msg m;
  m.header(kId, kResponse, 1, 4).question("alias.example.test", kTypeA);
  size_t mid_at = m.size() + 12;  // the CNAME's RDATA: after owner (2) + fixed part (10)
  m.ptr(kQuestionName).rr(kTypeCname, 6).name("mid", kQuestionName + 6);
  m.name("web", kQuestionName + 6).rr(kTypeA, 4).raw({192, 0, 2, 1});
  size_t web_at = m.size() - 4 - 10 - 6;
  m.ptr(static_cast<uint16_t>(mid_at)).rr(kTypeCname, 2).ptr(static_cast<uint16_t>(web_at));
  m.name("other", kQuestionName + 6).rr(kTypeA, 4).raw({192, 0, 2, 99});
  auto a = parse_response(m.b, ask("alias.example.test"));
  ASSERT_TRUE(a.ok()) << iopkt::preload::dns::parse_error_name(a.error());
  EXPECT_EQ(a->canonical, "web.example.test");
  ASSERT_EQ(a->aliases.size(), 2u);
  EXPECT_EQ(a->aliases[0], "alias.example.test");
  EXPECT_EQ(a->aliases[1], "mid.example.test");
  ASSERT_EQ(a->addrs.size(), 1u);  // not other.example.test's
  EXPECT_EQ(text_addr(a->addrs[0]), "192.0.2.1");
}

TEST(DnsAnswer, CnameLoopEndsWithoutAddresses) {
  Msg m;
  m.header(kId, kResponse, 1, 2).question("a.test", kTypeA);
  size_t a_target = m.size() + 12;
  m.ptr(kQuestionName).rr(kTypeCname, 4).name("b", kQuestionName + 2);          // a -> b.test
  m.ptr(static_cast<uint16_t>(a_target)).rr(kTypeCname, 2).ptr(kQuestionName);  // b -> a
  auto a = parse_response(m.b, ask("a.test"));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->addrs.empty());
  EXPECT_EQ(a->aliases.size(), static_cast<size_t>(iopkt::preload::dns::kMaxCnameChain));
}

TEST(DnsAnswer, CnameRdataMustHoldExactlyAName) {
  Msg m;
  m.header(kId, kResponse, 1, 1).question("a.test", kTypeA);
  m.ptr(kQuestionName).rr(kTypeCname, 3).ptr(kQuestionName + 2).raw({0});
  auto a = parse_response(m.b, ask("a.test"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kBadRecord);
}

TEST(DnsAnswer, NxDomain) {
  Msg m;
  m.header(kId, 0x8183, 1, 0).question("nowhere.test", kTypeA);
  auto a = parse_response(m.b, ask("nowhere.test"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rcode, Rcode::kNxDomain);
  EXPECT_TRUE(a->addrs.empty());
}

TEST(DnsAnswer, ServFailWithAndWithoutTheQuestion) {
  Msg with;
  with.header(kId, 0x8182, 1, 0).question("web.test", kTypeA);
  auto a = parse_response(with.b, ask("web.test"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rcode, Rcode::kServFail);
  Msg without;
  without.header(kId, 0x8182, 0, 0);
  a = parse_response(without.b, ask("web.test"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rcode, Rcode::kServFail);
  // NOERROR without the question is not an answer to it.
  Msg noerror;
  noerror.header(kId, kResponse, 0, 0);
  a = parse_response(noerror.b, ask("web.test"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kQuestionMismatch);
}

TEST(DnsAnswer, WrongIdIsNotOurs) {
  Msg m;
  m.header(kId + 1, kResponse, 1, 1).question("web.test", kTypeA);
  m.ptr(kQuestionName).rr(kTypeA, 4).raw({192, 0, 2, 1});
  auto a = parse_response(m.b, ask("web.test"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kWrongId);
  EXPECT_TRUE(iopkt::preload::dns::not_ours(a.error()));
}

TEST(DnsAnswer, QueryIsNotAResponse) {
  std::vector<uint8_t> q;
  ASSERT_TRUE(build_query(ask("web.test"), &q));
  auto a = parse_response(q, ask("web.test"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kNotResponse);
}

TEST(DnsAnswer, OtherQuestionIsNotOurs) {
  Msg m;
  m.header(kId, kResponse, 1, 0).question("web.test", kTypeAaaa);
  auto a = parse_response(m.b, ask("web.test", kTypeA));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kQuestionMismatch);
  a = parse_response(m.b, ask("www.test", kTypeAaaa));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kQuestionMismatch);
  Msg two;
  two.header(kId, kResponse, 2, 0).question("web.test", kTypeA).question("web.test", kTypeA);
  a = parse_response(two.b, ask("web.test"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kQuestionMismatch);
}

TEST(DnsAnswer, TruncatedRecordIsAnError) {
  Msg m;
  m.header(kId, kResponse, 1, 2).question("web.test", kTypeA);
  m.ptr(kQuestionName).rr(kTypeA, 4).raw({192, 0, 2, 1});
  m.ptr(kQuestionName).rr(kTypeA, 4).raw({192, 0});  // RDATA cut short
  auto a = parse_response(m.b, ask("web.test"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kTruncated);
  // Every shorter prefix fails too, and none reads past its end.
  for (size_t n = 0; n < m.size(); ++n) {
    auto p = parse_response(std::span<const uint8_t>(m.b.data(), n), ask("web.test"));
    EXPECT_FALSE(p.ok()) << n;
  }
}

TEST(DnsAnswer, TcKeepsTheRecordsThatFitted) {
  Msg m;
  m.header(kId, kResponse | 0x0200, 1, 3).question("web.test", kTypeA);
  m.ptr(kQuestionName).rr(kTypeA, 4).raw({192, 0, 2, 1});
  m.ptr(kQuestionName).rr(kTypeA, 4).raw({192, 0});
  auto a = parse_response(m.b, ask("web.test"));
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->truncated);
  ASSERT_EQ(a->addrs.size(), 1u);
}

TEST(DnsAnswer, WrongAddressLengthIsABadRecord) {
  Msg m;
  m.header(kId, kResponse, 1, 1).question("web.test", kTypeA);
  m.ptr(kQuestionName).rr(kTypeA, 5).raw({192, 0, 2, 1, 0});
  auto a = parse_response(m.b, ask("web.test"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kBadRecord);
}

TEST(DnsAnswer, CompressionLoopInAnswerOwner) {
  Msg m;
  m.header(kId, kResponse, 1, 1).question("web.test", kTypeA);
  uint16_t self = static_cast<uint16_t>(m.size());
  m.ptr(self).rr(kTypeA, 4).raw({192, 0, 2, 1});
  auto a = parse_response(m.b, ask("web.test"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), ParseError::kBadName);
}

TEST(DnsAnswer, AaaaAndOtherClassesIgnored) {
  Msg m;
  m.header(kId, kResponse, 1, 2).question("web.test", kTypeAaaa);
  m.ptr(kQuestionName).u16(kTypeAaaa).u16(3).u32(0).u16(16);  // class CH: skipped
  for (int i = 0; i < 16; ++i) {
    m.raw({0xee});
  }
  m.ptr(kQuestionName)
      .rr(kTypeAaaa, 16)
      .raw({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  auto a = parse_response(m.b, ask("web.test", kTypeAaaa));
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->addrs.size(), 1u);
  EXPECT_EQ(a->addrs[0][0], 0x20);
  EXPECT_EQ(a->addrs[0][15], 1);
}

TEST(DnsAnswer, PtrNames) {
  Msg m;
  m.header(kId, kResponse, 1, 1).question("1.2.0.192.in-addr.arpa", kTypePtr);
  m.ptr(kQuestionName).rr(kTypePtr, 18).name("web.example.test");
  auto a = parse_response(m.b, ask("1.2.0.192.in-addr.arpa", kTypePtr));
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->names.size(), 1u);
  EXPECT_EQ(a->names[0], "web.example.test");
}

}  // namespace
