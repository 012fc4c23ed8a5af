// fuzz/control_fuzz.cc — every control request the stack can be sent:
// bytes become a header and a body (the header's magic, version and length
// are fixed up half of the time so that the body parsers are reached), and
// the handler must answer without crashing; the stack must stay usable.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_context.hh"

using iopkt::test::BareControlContext;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static BareControlContext* ctx = [] {
    auto* c = new BareControlContext(6);
    (void)c->create_socket_locked(AF_INET, SOCK_DGRAM, 0, 0);
    c->bind_channel_to_last_socket();
    return c;
  }();
  // Half the requests come from root, half from an unprivileged user: the
  // refusal path and the configuration handlers are both reached.
  iopkt::Session root_session, user_session;
  root_session.cred.known = user_session.cred.known = true;
  user_session.cred.uid = user_session.cred.gid = 1000;
  size_t off = 0;
  // Several requests per input, so sequences (add then delete...) happen.
  for (int i = 0; i < 8 && off + 1 + sizeof(iopkt_ctl_hdr) <= size; ++i) {
    uint8_t mode = data[off++];
    iopkt_ctl_hdr hdr;
    std::memcpy(&hdr, data + off, sizeof hdr);
    off += sizeof hdr;
    size_t body_len = std::min<size_t>(size - off, hdr.len % 4096);
    if (mode & 1) {
      hdr.magic = IOPKT_CTL_MAGIC;
      hdr.version = IOPKT_CTL_VERSION;
      long want = iopkt::request_body_size(hdr.type);
      if (want >= 0 && static_cast<size_t>(want) <= size - off) {
        body_len = static_cast<size_t>(want);
      }
      hdr.len = static_cast<uint32_t>(body_len);
    }
    std::span<const std::byte> body(reinterpret_cast<const std::byte*>(data + off), body_len);
    off += body_len;
    int fd = (mode & 2) ? BareControlContext::kFakeSocketFd : -1;
    const iopkt::Session& session = (mode & 4) ? user_session : root_session;
    iopkt::CtlReply r = iopkt::handle_request(*ctx, session, hdr, body, fd);
    if ((mode & 4) && iopkt::is_configuration_request(hdr.type) && r.error != EPERM &&
        hdr.magic == IOPKT_CTL_MAGIC && hdr.version == IOPKT_CTL_VERSION &&
        hdr.len == body.size() &&
        iopkt::request_body_size(hdr.type) == static_cast<long>(body.size())) {
      __builtin_trap();  // an unprivileged client changed the stack
    }
    if (r.error == 0 && r.body.size() > iopkt::kCtlMaxReply) {
      __builtin_trap();  // a reply that would not fit the transport
    }
  }
  // Whatever happened, lo0 still carries UDP.
  iopkt::Stack& s = ctx->stack();
  if (s.if_find("lo0") == nullptr) {
    __builtin_trap();
  }
  return 0;
}
