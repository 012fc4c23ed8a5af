// netinet/ip.cc — IPv4 header view and builder.
#include "netinet/ip.hh"

namespace iopkt {

Result<IpHeader, IpParseError> IpHeader::parse(std::span<const std::byte> bytes,
                                               size_t packet_len) {
  if (bytes.size() < kMinSize || packet_len < kMinSize) {
    return Err(IpParseError::kTooShort);
  }
  uint8_t vhl = std::to_integer<uint8_t>(bytes[0]);
  if ((vhl >> 4) != 4) {
    return Err(IpParseError::kBadVersion);
  }
  size_t hlen = size_t{vhl & 0xfu} * 4;
  if (hlen < kMinSize || hlen > bytes.size() || hlen > packet_len) {
    return Err(IpParseError::kBadHeaderLen);
  }
  size_t total = load_be16(bytes, 2);
  if (total < hlen || total > packet_len) {
    return Err(IpParseError::kBadLength);
  }
  if (in_cksum_finish(in_cksum_add(0, bytes.first(hlen))) != 0) {
    return Err(IpParseError::kBadChecksum);
  }
  return IpHeader(bytes.first(hlen));
}

void IpFields::emit(std::span<std::byte> out) const {
  out[0] = std::byte{0x45};
  out[1] = std::byte{tos};
  store_be16(out, 2, total_len);
  store_be16(out, 4, id);
  store_be16(out, 6, frag);
  out[8] = std::byte{ttl};
  out[9] = std::byte{protocol};
  store_be16(out, 10, 0);
  store_be32(out, 12, src.v);
  store_be32(out, 16, dst.v);
  store_be16(out, 10, in_cksum_finish(in_cksum_add(0, out.first(IpHeader::kMinSize))));
}

void ip_header_set_checksum(std::span<std::byte> hdr) {
  store_be16(hdr, 10, 0);
  store_be16(hdr, 10, in_cksum_finish(in_cksum_add(0, hdr)));
}

Result<IpOptionsInfo, IpOptionError> ip_options_check(std::span<const std::byte> options) {
  IpOptionsInfo info;
  // Offsets reported are from the start of the IP header.
  auto at = [](size_t i) { return IpOptionError{static_cast<uint8_t>(IpHeader::kMinSize + i)}; };
  size_t i = 0;
  while (i < options.size()) {
    uint8_t type = std::to_integer<uint8_t>(options[i]);
    if (type == kIpOptEol) {
      break;  // RFC 791: the end of the option list
    }
    if (type == kIpOptNop) {
      ++i;
      continue;
    }
    // Every other option is type, length, data (RFC 791 §3.1 case 2).
    if (i + 1 >= options.size()) {
      return Err(at(i));  // no room for the length octet
    }
    size_t len = std::to_integer<uint8_t>(options[i + 1]);
    if (len < 2 || i + len > options.size()) {
      return Err(at(i + 1));  // 0 and 1 would loop forever (CVE-2019-12256 class)
    }
    switch (type) {
      case kIpOptLsrr:
      case kIpOptSsrr:
      case kIpOptRr: {
        // RFC 791: length, then a pointer whose smallest legal value is 4.
        if (len < 3) {
          return Err(at(i + 1));
        }
        size_t ptr = std::to_integer<uint8_t>(options[i + 2]);
        if (ptr < 4) {
          return Err(at(i + 2));
        }
        // A pointer inside the option must leave room for a whole address
        // (Linux: "optptr[2]+3 > optlen" is a parameter problem).
        if (ptr <= len && ptr + 3 > len) {
          return Err(at(i + 2));
        }
        if (type != kIpOptRr) {
          // RFC 1812 §5.2.4.1: more than one source route is an error.
          if (info.source_route) {
            return Err(at(i));
          }
          info.source_route = true;
          info.route_exhausted = ptr > len;
        }
        break;
      }
      case kIpOptTs: {
        // RFC 791: length, pointer (smallest legal value 5), overflow/flags.
        if (len < 4) {
          return Err(at(i + 1));
        }
        if (std::to_integer<uint8_t>(options[i + 2]) < 5) {
          return Err(at(i + 2));
        }
        break;
      }
      default:
        break;  // RFC 1122 §3.2.1.8: unknown options are ignored
    }
    i += len;
  }
  return info;
}

std::vector<std::byte> ip_options_copied(std::span<const std::byte> options) {
  std::vector<std::byte> out;
  size_t i = 0;
  while (i < options.size()) {
    uint8_t type = std::to_integer<uint8_t>(options[i]);
    if (type == kIpOptEol) {
      break;
    }
    if (type == kIpOptNop) {
      ++i;  // padding is not copied; it is redone below
      continue;
    }
    size_t len = std::to_integer<uint8_t>(options[i + 1]);
    if (type & kIpOptCopied) {
      out.insert(out.end(), options.begin() + static_cast<ptrdiff_t>(i),
                 options.begin() + static_cast<ptrdiff_t>(i + len));
    }
    i += len;
  }
  out.resize((out.size() + 3) & ~size_t{3}, std::byte{kIpOptEol});
  return out;
}

}  // namespace iopkt
