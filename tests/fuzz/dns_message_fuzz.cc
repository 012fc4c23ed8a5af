// fuzz/dns_message_fuzz.cc — the preload resolver's DNS parser
// (client/preload/dns_message.hh) on arbitrary messages. The question the
// message is checked against is the one it carries (ID, first name, type),
// so that answers get past the checks and into the answer section and the
// CNAME chain; a name is also read at every offset, to reach pointers
// anywhere. Never crash or hang; what parses must keep the promises below,
// or the target traps.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "client/preload/dns_message.hh"

namespace {

namespace dns = iopkt::preload::dns;

void require(bool condition) {
  if (!condition) {
    __builtin_trap();
  }
}

// A text name's wire length: labels split at unescaped dots.
size_t wire_length(const std::string& text) {
  if (text.empty()) {
    return 1;
  }
  size_t len = 2;  // the first label's length octet and the root
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      i += (i + 1 < text.size() && text[i + 1] >= '0' && text[i + 1] <= '9') ? 3 : 1;
      ++len;
    } else if (text[i] == '.') {
      ++len;
    } else {
      ++len;
    }
  }
  return len;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> msg(data, size);

  // Names at every offset (bounded, so that a long input stays fast).
  for (size_t at = 0; at < size && at < 1024; ++at) {
    size_t pos = at;
    auto n = dns::read_name(msg, &pos);
    if (n) {
      require(pos > at && pos <= size);
      require(wire_length(*n) <= dns::kMaxNameWire);
    }
  }

  dns::Question q;
  if (size >= dns::kHeaderSize) {
    q.id = static_cast<uint16_t>(data[0] << 8 | data[1]);
    size_t pos = dns::kHeaderSize;
    auto n = dns::read_name(msg, &pos);
    if (n) {
      q.name = *n;
      if (pos + 2 <= size) {
        q.type = static_cast<uint16_t>(data[pos] << 8 | data[pos + 1]);
      }
    }
  }
  auto a = dns::parse_response(msg, q);
  if (a) {
    require(a->id == q.id);
    require(a->aliases.size() <= static_cast<size_t>(dns::kMaxCnameChain));
    require(a->addrs.empty() || q.type == dns::kTypeA || q.type == dns::kTypeAaaa);
    if (!a->aliases.empty()) {
      require(dns::same_name(a->aliases[0], q.name));
    } else {
      require(dns::same_name(a->canonical, q.name));
    }
  }
  // Asked for something else, the same message is never ours.
  dns::Question other = q;
  other.id = static_cast<uint16_t>(q.id + 1);
  require(!dns::parse_response(msg, other).ok());

  // Whatever name came out, a query for it (if it can be sent) reads back.
  std::vector<uint8_t> query;
  if (dns::build_query(q, &query)) {
    size_t pos = dns::kHeaderSize;
    auto n = dns::read_name(query, &pos);
    require(n.ok() && dns::same_name(*n, q.name));
    require(pos + 4 == query.size());
    auto self = dns::parse_response(query, q);
    require(!self.ok() && self.error() == dns::ParseError::kNotResponse);
  }
  return 0;
}
