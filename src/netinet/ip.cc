// netinet/ip.cc — IPv4 header view and builder.
#include "netinet/ip.hh"

namespace iopkt {

Result<IpHeader, IpParseError> IpHeader::parse(std::span<const std::byte> bytes, size_t packet_len) {
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

}  // namespace iopkt
