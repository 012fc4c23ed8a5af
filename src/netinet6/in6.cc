// netinet6/in6.cc — IPv6 address text forms, classification, and the
// pseudo-header sum. Read RFC 4291 §2 and RFC 5952 before changing it.
#include "netinet6/in6.hh"

#include <array>
#include <cstddef>

namespace iopkt {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Dotted decimal, exactly four parts of 1–3 digits, each <= 255. A leading
// zero is refused (it reads as octal to some parsers), as inet_pton does.
std::optional<uint32_t> parse_dotted(std::string_view s) {
  uint32_t v = 0;
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') {
        return std::nullopt;
      }
      ++i;
    }
    size_t start = i;
    uint32_t octet = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
      octet = octet * 10 + static_cast<uint32_t>(s[i] - '0');
      ++i;
    }
    size_t digits = i - start;
    if (digits == 0 || octet > 255 || (digits > 1 && s[start] == '0')) {
      return std::nullopt;
    }
    v = (v << 8) | octet;
  }
  if (i != s.size()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::optional<In6Addr> in6_parse(std::string_view s) {
  // RFC 4291 §2.2: the longest form is 8 groups of 4 digits with 7 colons,
  // or 6 groups and a dotted quad (45 characters).
  if (s.empty() || s.size() > 45) {
    return std::nullopt;
  }
  std::array<uint16_t, 8> words{};
  int n = 0;     // groups read
  int gap = -1;  // where "::" stands, in groups
  size_t i = 0;
  if (s[0] == ':') {
    if (s.size() < 2 || s[1] != ':') {
      return std::nullopt;  // a lone leading colon
    }
    gap = 0;
    i = 2;
  }
  while (i < s.size()) {
    if (n == 8) {
      return std::nullopt;
    }
    size_t j = i;
    while (j < s.size() && hex_value(s[j]) >= 0) {
      ++j;
    }
    if (j < s.size() && s[j] == '.') {
      // §2.2 form 3: x:x:x:x:x:x:d.d.d.d, the IPv4 part last.
      if (n > 6) {
        return std::nullopt;
      }
      auto v4 = parse_dotted(s.substr(i));
      if (!v4) {
        return std::nullopt;
      }
      words[n++] = static_cast<uint16_t>(*v4 >> 16);
      words[n++] = static_cast<uint16_t>(*v4 & 0xffff);
      i = s.size();
      break;
    }
    size_t digits = j - i;
    if (digits == 0 || digits > 4) {
      return std::nullopt;
    }
    uint16_t w = 0;
    for (size_t k = i; k < j; ++k) {
      w = static_cast<uint16_t>((w << 4) | hex_value(s[k]));
    }
    words[n++] = w;
    i = j;
    if (i == s.size()) {
      break;
    }
    if (s[i] != ':') {
      return std::nullopt;
    }
    ++i;
    if (i == s.size()) {
      return std::nullopt;  // a lone trailing colon
    }
    if (s[i] == ':') {
      if (gap >= 0) {
        return std::nullopt;  // §2.2: "::" can appear only once
      }
      gap = n;
      ++i;
    }
  }
  if (gap < 0 ? n != 8 : n >= 8) {
    return std::nullopt;  // "::" stands for at least one group
  }
  In6Addr a;
  int zeros = 8 - n;
  int out = 0;
  for (int k = 0; k < n; ++k) {
    if (k == gap) {
      out += zeros;
    }
    a.b[2 * out] = static_cast<uint8_t>(words[k] >> 8);
    a.b[2 * out + 1] = static_cast<uint8_t>(words[k] & 0xff);
    ++out;
  }
  return a;
}

std::string in6_str(const In6Addr& a) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::array<uint16_t, 8> w{};
  for (int k = 0; k < 8; ++k) {
    w[k] = static_cast<uint16_t>((a.b[2 * k] << 8) | a.b[2 * k + 1]);
  }
  bool mapped = in6_is_v4mapped(a);
  int groups = mapped ? 6 : 8;
  // RFC 5952 §4.2.1–§4.2.3: the longest run of zero groups, the first of
  // equal ones, and only a run of two or more.
  int best = -1, best_len = 0;
  for (int k = 0; k < groups;) {
    if (w[k] != 0) {
      ++k;
      continue;
    }
    int start = k;
    while (k < groups && w[k] == 0) {
      ++k;
    }
    if (k - start > best_len) {
      best = start;
      best_len = k - start;
    }
  }
  if (best_len < 2) {
    best = -1;
  }
  std::string out;
  out.reserve(45);
  for (int k = 0; k < groups; ++k) {
    if (k == best) {
      out += "::";
      k += best_len - 1;
      continue;
    }
    if (k > 0 && !(best >= 0 && k == best + best_len)) {
      out += ':';
    }
    // §4.1: leading zeros suppressed; §4.3: lowercase.
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      int d = (w[k] >> shift) & 0xf;
      if (d != 0 || started || shift == 0) {
        out += kHex[d];
        started = true;
      }
    }
  }
  if (mapped) {
    // §5: "::ffff:" and the IPv4 address in dotted decimal.
    if (out.empty() || out.back() != ':') {
      out += ':';
    }
    for (int k = 12; k < 16; ++k) {
      out += std::to_string(a.b[k]);
      if (k < 15) {
        out += '.';
      }
    }
  }
  return out;
}

bool in6_is_unspecified(const In6Addr& a) {
  for (uint8_t x : a.b) {
    if (x != 0) {
      return false;
    }
  }
  return true;
}

bool in6_is_loopback(const In6Addr& a) {
  for (int k = 0; k < 15; ++k) {
    if (a.b[k] != 0) {
      return false;
    }
  }
  return a.b[15] == 1;
}

bool in6_is_linklocal(const In6Addr& a) { return a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80; }

bool in6_is_multicast(const In6Addr& a) { return a.b[0] == 0xff; }

bool in6_is_v4mapped(const In6Addr& a) {
  for (int k = 0; k < 10; ++k) {
    if (a.b[k] != 0) {
      return false;
    }
  }
  return a.b[10] == 0xff && a.b[11] == 0xff;
}

bool in6_is_documentation(const In6Addr& a) {
  return a.b[0] == 0x20 && a.b[1] == 0x01 && a.b[2] == 0x0d && a.b[3] == 0xb8;
}

std::optional<In6Scope> in6_mcast_scope(const In6Addr& a) {
  if (!in6_is_multicast(a)) {
    return std::nullopt;
  }
  return static_cast<In6Scope>(a.b[1] & 0x0f);
}

In6Addr in6_solicited_node(const In6Addr& a) {
  In6Addr s;
  s.b[0] = 0xff;
  s.b[1] = 0x02;
  s.b[11] = 0x01;
  s.b[12] = 0xff;
  s.b[13] = a.b[13];
  s.b[14] = a.b[14];
  s.b[15] = a.b[15];
  return s;
}

bool in6_is_solicited_node(const In6Addr& a) {
  In6Addr s = in6_solicited_node(a);
  return s == a;
}

In6Addr in6_v4mapped(InAddr v4) {
  In6Addr a;
  a.b[10] = 0xff;
  a.b[11] = 0xff;
  a.b[12] = static_cast<uint8_t>(v4.v >> 24);
  a.b[13] = static_cast<uint8_t>(v4.v >> 16);
  a.b[14] = static_cast<uint8_t>(v4.v >> 8);
  a.b[15] = static_cast<uint8_t>(v4.v);
  return a;
}

std::optional<InAddr> in6_v4mapped_addr(const In6Addr& a) {
  if (!in6_is_v4mapped(a)) {
    return std::nullopt;
  }
  return InAddr::from_octets(a.b[12], a.b[13], a.b[14], a.b[15]);
}

uint32_t in6_pseudo_sum(const In6Addr& src, const In6Addr& dst, uint32_t upper_len,
                        uint8_t next_header) {
  // RFC 8200 §8.1: 16 + 16 address bytes, a 32-bit length, three zero
  // bytes and the next header value.
  std::array<std::byte, 40> ph{};
  for (int k = 0; k < 16; ++k) {
    ph[k] = std::byte{src.b[k]};
    ph[16 + k] = std::byte{dst.b[k]};
  }
  ph[32] = std::byte(upper_len >> 24);
  ph[33] = std::byte((upper_len >> 16) & 0xff);
  ph[34] = std::byte((upper_len >> 8) & 0xff);
  ph[35] = std::byte(upper_len & 0xff);
  ph[39] = std::byte{next_header};
  return in_cksum_add(0, ph);
}

}  // namespace iopkt
