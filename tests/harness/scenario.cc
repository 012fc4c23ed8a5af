// harness/scenario.cc — see scenario.hh.
#include "harness/scenario.hh"

#include "kern/byteorder.hh"
#include "netinet/ip.hh"
#include "netinet/udp.hh"

namespace iopkt::test {

Result<void, Errno> FakeDriver::set_flags(Ifnet& ifp, uint32_t flags) {
  flag_calls.emplace_back(ifp.name, flags);
  if (refuse_errno != 0) {
    return Err(Errno{refuse_errno});
  }
  return {};
}

Result<void, Errno> FakeDriver::set_mtu(Ifnet& ifp, uint32_t mtu) {
  mtu_calls.emplace_back(ifp.name, mtu);
  if (refuse_errno != 0) {
    return Err(Errno{refuse_errno});
  }
  return {};
}

Scenario::Scenario(ScenarioOptions opts) : stack_(StackConfig{opts.variant, opts.pool, opts.seed}) {
  stack_.set_driver_hooks(&driver_);
  if (opts.with_link) {
    IfAttachArgs a;
    a.prefix = "en";
    a.type = IfType::kEther;
    a.mac = kLocalMac;
    a.mtu = 1500;
    a.max_mtu = 9000;
    a.flags = kIffBroadcast | kIffMulticast | kIffSimplex;
    a.driver_name = "scenario";
    link_ = stack_.if_attach(a).value();
    (void)stack_.in_control_add(*link_, InIfaddr{local(), 24, InAddr::any()}, false);
    take_frames();  // tests start from a quiet link: drop the gratuitous ARP
  }
}

Scenario::~Scenario() = default;

void Scenario::advance(std::chrono::nanoseconds d) { stack_.advance(stack_.now() + d); }

void Scenario::inject(const std::vector<std::byte>& frame) {
  Mbuf m = Mbuf::copy_from(stack_.pool(), frame);
  stack_.if_input(*link_, std::move(m));
}

std::vector<std::vector<std::byte>> Scenario::take_frames() {
  for (Ifnet* ifp : stack_.take_tx_pending()) {
    while (!ifp->snd.empty()) {
      if (ifp == link_) {
        emitted_.push_back(ifp->snd.front().to_vector());
      }
      ifp->snd.pop_front();
    }
  }
  std::vector<std::vector<std::byte>> out(emitted_.begin(), emitted_.end());
  emitted_.clear();
  return out;
}

std::optional<std::vector<std::byte>> Scenario::next_frame() {
  auto frames = take_frames();
  if (frames.empty()) {
    return std::nullopt;
  }
  for (size_t i = 1; i < frames.size(); ++i) {
    emitted_.push_back(std::move(frames[i]));
  }
  return std::move(frames.front());
}

std::vector<std::byte> build_ipv4_udp(const UdpSpec& spec) {
  size_t udp_len = UdpHeader::kSize + spec.payload.size();
  std::vector<std::byte> pkt(IpHeader::kMinSize + udp_len);
  std::span<std::byte> all(pkt);
  IpFields ip;
  ip.total_len = static_cast<uint16_t>(pkt.size());
  ip.id = 1;
  ip.ttl = spec.ttl;
  ip.protocol = kIpProtoUdp;
  ip.src = spec.src;
  ip.dst = spec.dst;
  ip.emit(all.first(IpHeader::kMinSize));
  auto udp = all.subspan(IpHeader::kMinSize);
  std::copy(spec.payload.begin(), spec.payload.end(), udp.begin() + UdpHeader::kSize);
  UdpFields f{spec.sport, spec.dport, static_cast<uint16_t>(udp_len), 0};
  f.emit(udp);
  if (!spec.zero_checksum) {
    uint32_t sum = in_cksum_add(in_pseudo_sum(spec.src, spec.dst, kIpProtoUdp, f.length), udp);
    uint16_t c = in_cksum_finish(sum);
    f.checksum = c == 0 ? 0xffff : c;
    f.emit(udp);
  }
  return pkt;
}

std::vector<std::byte> build_ether(const std::array<uint8_t, 6>& dst,
                                   const std::array<uint8_t, 6>& src, uint16_t type,
                                   const std::vector<std::byte>& payload) {
  std::vector<std::byte> f(14 + payload.size());
  for (int i = 0; i < 6; ++i) {
    f[i] = std::byte{dst[i]};
    f[6 + i] = std::byte{src[i]};
  }
  store_be16(f, 12, type);
  std::copy(payload.begin(), payload.end(), f.begin() + 14);
  return f;
}

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    out[i] = std::byte(static_cast<unsigned char>(text[i]));
  }
  return out;
}

}  // namespace iopkt::test
