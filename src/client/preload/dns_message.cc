// client/preload/dns_message.cc — building queries and parsing answers,
// RFC 1035 §4. Every read is bounds-checked against the message; a name
// is bounded by 255 octets and its pointer jumps by kMaxPointerHops, so a
// compression loop or a pointer past the end ends in an error, never in a
// hang or a read outside the buffer.
#include "client/preload/dns_message.hh"

#include <algorithm>

namespace iopkt::preload::dns {
namespace {

// RFC 1035 §4.1.1 header layout.
constexpr size_t kIdAt = 0, kFlagsAt = 2, kQdCountAt = 4, kAnCountAt = 6;
constexpr uint16_t kFlagQr = 0x8000, kFlagAa = 0x0400, kFlagTc = 0x0200, kFlagRd = 0x0100;
constexpr int kOpcodeShift = 11;
constexpr uint16_t kOpcodeMask = 0xf, kRcodeMask = 0xf;
// RFC 1035 §4.1.4: the top two bits of a length octet.
constexpr uint8_t kLabelKindMask = 0xc0, kPointer = 0xc0;

uint16_t load_be16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

void put_be16(std::vector<uint8_t>* out, uint16_t v) {
  out->push_back(static_cast<uint8_t>(v >> 8));
  out->push_back(static_cast<uint8_t>(v & 0xff));
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

void append_label(std::string* out, std::span<const uint8_t> label) {
  if (!out->empty()) {
    out->push_back('.');
  }
  for (uint8_t c : label) {
    if (c == '.' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x21 || c > 0x7e) {
      out->push_back('\\');
      out->push_back(static_cast<char>('0' + c / 100));
      out->push_back(static_cast<char>('0' + c / 10 % 10));
      out->push_back(static_cast<char>('0' + c % 10));
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
}

// One resource record's fixed part (RFC 1035 §4.1.3) after its owner name.
struct Record {
  std::string owner;
  uint16_t type = 0, rclass = 0;
  size_t rdata_at = 0, rdata_len = 0;
};

}  // namespace

const char* parse_error_name(ParseError e) {
  switch (e) {
    case ParseError::kWrongId:
      return "wrong ID";
    case ParseError::kNotResponse:
      return "not a response to a query";
    case ParseError::kQuestionMismatch:
      return "question does not match";
    case ParseError::kTruncated:
      return "truncated";
    case ParseError::kBadName:
      return "bad name";
    case ParseError::kBadRecord:
      return "bad record";
  }
  return "?";
}

Result<std::string, ParseError> read_name(std::span<const uint8_t> msg, size_t* pos) {
  std::string text;
  size_t at = *pos;
  size_t after = 0;  // where the name ends at *pos, once known
  bool jumped = false;
  size_t wire_len = 0;
  int hops = 0;
  for (;;) {
    if (at >= msg.size()) {
      return Err(ParseError::kTruncated);
    }
    uint8_t len = msg[at];
    if ((len & kLabelKindMask) == kPointer) {
      if (at + 1 >= msg.size()) {
        return Err(ParseError::kTruncated);
      }
      if (++hops > kMaxPointerHops) {
        return Err(ParseError::kBadName);  // a loop
      }
      size_t target = static_cast<size_t>(len & ~kLabelKindMask) << 8 | msg[at + 1];
      if (!jumped) {
        after = at + 2;
        jumped = true;
      }
      if (target >= msg.size()) {
        return Err(ParseError::kBadName);  // points outside the message
      }
      at = target;
      continue;
    }
    if ((len & kLabelKindMask) != 0) {
      // 01 and 10: extended label types (RFC 6891 §5 leaves them unused).
      return Err(ParseError::kBadName);
    }
    wire_len += 1 + len;
    if (wire_len > kMaxNameWire) {
      return Err(ParseError::kBadName);
    }
    if (len == 0) {
      if (!jumped) {
        after = at + 1;
      }
      break;
    }
    if (at + 1 + len > msg.size()) {
      return Err(ParseError::kTruncated);
    }
    append_label(&text, msg.subspan(at + 1, len));
    at += 1 + len;
  }
  *pos = after;
  return text;
}

bool same_name(std::string_view a, std::string_view b) {
  // A trailing dot (an absolute name) does not make another name.
  if (!a.empty() && a.back() == '.') {
    a.remove_suffix(1);
  }
  if (!b.empty() && b.back() == '.') {
    b.remove_suffix(1);
  }
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool build_query(const Question& q, std::vector<uint8_t>* out) {
  std::string_view name = q.name;
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  if (name.find('\\') != std::string_view::npos) {
    return false;
  }
  std::vector<uint8_t> m;
  put_be16(&m, q.id);
  put_be16(&m, kFlagRd);  // a standard query (opcode 0), recursion desired
  put_be16(&m, 1);        // QDCOUNT
  put_be16(&m, 0);
  put_be16(&m, 0);
  put_be16(&m, 0);
  size_t wire_len = 1;  // the root's length octet
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabel) {
      return false;
    }
    wire_len += 1 + label.size();
    if (wire_len > kMaxNameWire) {
      return false;
    }
    m.push_back(static_cast<uint8_t>(label.size()));
    m.insert(m.end(), label.begin(), label.end());
    if (dot == std::string_view::npos) {
      break;
    }
    name.remove_prefix(dot + 1);
    if (name.empty()) {
      return false;  // "a.." : an empty label before the end
    }
  }
  m.push_back(0);
  put_be16(&m, q.type);
  put_be16(&m, kClassIn);
  *out = std::move(m);
  return true;
}

Result<Answer, ParseError> parse_response(std::span<const uint8_t> msg, const Question& q) {
  if (msg.size() < kHeaderSize) {
    return Err(ParseError::kTruncated);
  }
  Answer ans;
  ans.id = load_be16(msg, kIdAt);
  if (ans.id != q.id) {
    return Err(ParseError::kWrongId);
  }
  uint16_t flags = load_be16(msg, kFlagsAt);
  if ((flags & kFlagQr) == 0 || ((flags >> kOpcodeShift) & kOpcodeMask) != 0) {
    return Err(ParseError::kNotResponse);
  }
  ans.truncated = (flags & kFlagTc) != 0;
  ans.authoritative = (flags & kFlagAa) != 0;
  ans.rcode = static_cast<Rcode>(flags & kRcodeMask);
  ans.canonical = q.name;
  if (!ans.canonical.empty() && ans.canonical.back() == '.') {
    ans.canonical.pop_back();
  }
  uint16_t qdcount = load_be16(msg, kQdCountAt);
  uint16_t ancount = load_be16(msg, kAnCountAt);
  ans.ancount = ancount;
  if (qdcount == 0 && ans.rcode != Rcode::kNoError) {
    return ans;  // FORMERR and the like may come without the question
  }
  if (qdcount != 1) {
    return Err(ParseError::kQuestionMismatch);
  }
  size_t pos = kHeaderSize;
  auto qname = read_name(msg, &pos);
  if (!qname) {
    return Err(qname.error());
  }
  if (pos + 4 > msg.size()) {
    return Err(ParseError::kTruncated);
  }
  if (!same_name(*qname, q.name) || load_be16(msg, pos) != q.type ||
      load_be16(msg, pos + 2) != kClassIn) {
    return Err(ParseError::kQuestionMismatch);
  }
  pos += 4;

  // The answer section, RFC 1035 §4.1.3.
  std::vector<Record> records;
  for (uint16_t i = 0; i < ancount; ++i) {
    Record r;
    auto owner = read_name(msg, &pos);
    if (!owner) {
      if (owner.error() == ParseError::kTruncated && ans.truncated) {
        break;  // TC: the rest did not fit
      }
      return Err(owner.error());
    }
    if (pos + 10 > msg.size()) {
      if (ans.truncated) {
        break;
      }
      return Err(ParseError::kTruncated);
    }
    r.owner = std::move(*owner);
    r.type = load_be16(msg, pos);
    r.rclass = load_be16(msg, pos + 2);
    r.rdata_len = load_be16(msg, pos + 8);  // after the 32-bit TTL
    r.rdata_at = pos + 10;
    if (r.rdata_at + r.rdata_len > msg.size()) {
      if (ans.truncated) {
        break;
      }
      return Err(ParseError::kTruncated);
    }
    pos = r.rdata_at + r.rdata_len;
    if (r.rclass == kClassIn) {
      records.push_back(std::move(r));
    }
  }

  // RFC 1034 §3.6.2 and RFC 2181 §10.1: a CNAME owner has no other data;
  // the server puts the chain from the question's name in the answer. It
  // is followed here from the question's name, in whatever order the
  // records come, for at most kMaxCnameChain links.
  for (int link = 0; link < kMaxCnameChain; ++link) {
    const Record* cname = nullptr;
    for (const Record& r : records) {
      if (r.type == kTypeCname && q.type != kTypeCname && same_name(r.owner, ans.canonical)) {
        cname = &r;
        break;
      }
    }
    if (cname == nullptr) {
      break;
    }
    size_t at = cname->rdata_at;
    auto target = read_name(msg, &at);
    if (!target) {
      return Err(target.error() == ParseError::kTruncated ? ParseError::kBadRecord
                                                          : target.error());
    }
    if (at != cname->rdata_at + cname->rdata_len) {
      return Err(ParseError::kBadRecord);  // the name must fill the RDATA
    }
    ans.aliases.push_back(std::move(ans.canonical));
    ans.canonical = std::move(*target);
  }

  for (const Record& r : records) {
    if (r.type != q.type || !same_name(r.owner, ans.canonical)) {
      continue;
    }
    if (q.type == kTypeA || q.type == kTypeAaaa) {
      size_t want = q.type == kTypeA ? 4 : 16;
      if (r.rdata_len != want) {
        return Err(ParseError::kBadRecord);
      }
      std::array<uint8_t, 16> a{};
      std::copy_n(msg.begin() + static_cast<std::ptrdiff_t>(r.rdata_at), want, a.begin());
      ans.addrs.push_back(a);
    } else if (q.type == kTypePtr || q.type == kTypeCname) {
      size_t at = r.rdata_at;
      auto target = read_name(msg, &at);
      if (!target || at != r.rdata_at + r.rdata_len) {
        return Err(ParseError::kBadRecord);
      }
      ans.names.push_back(std::move(*target));
    }
  }
  return ans;
}

}  // namespace iopkt::preload::dns
