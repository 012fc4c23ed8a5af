// client/preload/resolver.cc — name resolution over the stack (issue 6,
// docs/preload.md "Name resolution"). glibc's resolver lives inside
// libc.so.6 and reaches its sockets through internal aliases that no
// preloaded library can replace: its DNS queries would leave through the
// kernel. So the entry points a program calls are defined here:
// getaddrinfo, gethostbyname, gethostbyname2, gethostbyname_r,
// gethostbyname2_r, gethostbyaddr, gethostbyaddr_r, getnameinfo, and
// res_query, res_search, res_querydomain (res_n*, __res_* too). Not
// res_send/res_nsend: a program that builds its own query still reaches
// the kernel (docs/preload.md).
//
// What stays libc's (its own function, dlsym RTLD_NEXT), because it needs
// no network: numeric addresses (AI_NUMERICHOST, NI_NUMERICHOST), names
// and addresses /etc/hosts has (when /etc/nsswitch.conf's hosts line has
// "files"), "localhost", every lookup when the hosts line has no "dns",
// and the services (ports) always. The rest is a stub resolver here: the
// nameservers of /etc/resolv.conf (IPv4 ones: the stack carries no IPv6
// sockets yet), its search list and ndots, timeout and attempts, asked
// over a UDP socket of the stack (random ID; the stack picks a random
// source port, RFC 6056), the answer checked against the question and its
// source; a truncated answer (TC) is asked again over TCP. Errors are
// glibc's: EAI_NONAME / HOST_NOT_FOUND for NXDOMAIN, EAI_NODATA / NO_DATA
// for a name without addresses of the type, EAI_AGAIN / TRY_AGAIN for
// SERVFAIL, silence or no stack, EAI_FAIL / NO_RECOVERY for the rest.
//
// Read RFC 1035 §7 (resolver), RFC 1123 §6.1.3.3 and resolv.conf(5) first.
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "client/preload/dns_message.hh"
#include "client/preload/preload.hh"
#include "iopkt/iopkt.h"

namespace iopkt::preload {
namespace {

RealFn r_getaddrinfo{"getaddrinfo"}, r_gethostbyname{"gethostbyname"},
    r_gethostbyname2{"gethostbyname2"}, r_gethostbyname_r{"gethostbyname_r"},
    r_gethostbyname2_r{"gethostbyname2_r"}, r_gethostbyaddr{"gethostbyaddr"},
    r_gethostbyaddr_r{"gethostbyaddr_r"}, r_getnameinfo{"getnameinfo"};

// resolv.conf(5)'s limits, as glibc applies them.
constexpr size_t kMaxNameservers = 3;  // MAXNS
constexpr int kMaxNdots = 15, kMaxTimeout = 30, kMaxAttempts = 5;
constexpr uint16_t kDnsPort = 53;

// --- configuration -----------------------------------------------------------

struct ResolvConf {
  std::vector<sockaddr_in> servers;
  std::vector<std::string> search;
  int ndots = 1, timeout = 5, attempts = 2;  // RES_DFLNDOTS, RES_TIMEOUT, RES_DFLRETRY
};

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
      ++i;
    }
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') {
      ++j;
    }
    if (j > i) {
      out.push_back(line.substr(i, j - i));
    }
    i = j;
  }
  return out;
}

// The file's lines without comments (from '#', or ';' if `semicolon`).
std::vector<std::string> read_lines(const char* path, bool semicolon) {
  std::vector<std::string> lines;
  FILE* f = fopen(path, "re");
  if (f == nullptr) {
    return lines;
  }
  char buf[1024];
  while (fgets(buf, sizeof buf, f) != nullptr) {
    std::string s(buf);
    size_t cut = s.find_first_of(semicolon ? "#;\n\r" : "#\n\r");
    if (cut != std::string::npos) {
      s.resize(cut);
    }
    lines.push_back(std::move(s));
  }
  fclose(f);
  return lines;
}

int clamp_option(const std::string& v, int lo, int hi) {
  int n = atoi(v.c_str());
  return n < lo ? lo : n > hi ? hi : n;
}

void apply_options(ResolvConf* c, const std::vector<std::string>& opts) {
  for (const std::string& o : opts) {
    if (o.rfind("ndots:", 0) == 0) {
      c->ndots = clamp_option(o.substr(6), 0, kMaxNdots);
    } else if (o.rfind("timeout:", 0) == 0) {
      c->timeout = clamp_option(o.substr(8), 1, kMaxTimeout);
    } else if (o.rfind("attempts:", 0) == 0) {
      c->attempts = clamp_option(o.substr(9), 1, kMaxAttempts);
    }
  }
}

// /etc/resolv.conf, read on every lookup (glibc rereads it when it
// changes; reading it each time is simpler and as current), then the
// LOCALDOMAIN and RES_OPTIONS variables that override it (resolv.conf(5)).
ResolvConf read_resolv_conf() {
  ResolvConf c;
  for (const std::string& line : read_lines("/etc/resolv.conf", true)) {
    std::vector<std::string> w = words(line);
    if (w.size() < 2) {
      continue;
    }
    if (w[0] == "nameserver") {
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(kDnsPort);
      // An IPv6 nameserver cannot be reached over the stack yet: skipped.
      if (c.servers.size() < kMaxNameservers &&
          inet_pton(AF_INET, w[1].c_str(), &sin.sin_addr) == 1) {
        c.servers.push_back(sin);
      }
    } else if (w[0] == "domain") {  // the last of domain and search wins
      c.search.assign(1, w[1]);
    } else if (w[0] == "search") {
      c.search.assign(w.begin() + 1, w.end());
    } else if (w[0] == "options") {
      apply_options(&c, std::vector<std::string>(w.begin() + 1, w.end()));
    }
  }
  if (const char* d = getenv("LOCALDOMAIN")) {
    c.search = words(d);
  }
  if (const char* o = getenv("RES_OPTIONS")) {
    apply_options(&c, words(o));
  }
  if (c.servers.empty()) {  // resolv.conf(5): the local machine by default
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(kDnsPort);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.servers.push_back(sin);
  }
  return c;
}

// /etc/nsswitch.conf's hosts line, simply: whether it names "files" and
// "dns" (files is always asked first). Other sources (myhostname, mdns,
// resolve) are not consulted. Without the file, glibc's default
// "dns [!UNAVAIL=return] files" counts as both.
struct HostsSources {
  bool files = true, dns = true;
};

HostsSources read_nsswitch() {
  std::vector<std::string> lines = read_lines("/etc/nsswitch.conf", false);
  for (const std::string& line : lines) {
    std::vector<std::string> w = words(line);
    if (w.empty() || w[0] != "hosts:") {
      continue;
    }
    HostsSources s{false, false};
    for (size_t i = 1; i < w.size(); ++i) {
      s.files = s.files || w[i] == "files";
      s.dns = s.dns || w[i] == "dns";
    }
    return s;
  }
  return HostsSources{};
}

// Whether /etc/hosts has `name` (as a canonical name or alias) with an
// address of `family` (AF_UNSPEC: any).
bool hosts_has_name(const char* name, int family) {
  for (const std::string& line : read_lines("/etc/hosts", false)) {
    std::vector<std::string> w = words(line);
    if (w.size() < 2) {
      continue;
    }
    unsigned char buf[16];
    int af = inet_pton(AF_INET, w[0].c_str(), buf) == 1    ? AF_INET
             : inet_pton(AF_INET6, w[0].c_str(), buf) == 1 ? AF_INET6
                                                           : AF_UNSPEC;
    if (af == AF_UNSPEC || (family != AF_UNSPEC && af != family)) {
      continue;
    }
    for (size_t i = 1; i < w.size(); ++i) {
      if (dns::same_name(w[i], name)) {
        return true;
      }
    }
  }
  return false;
}

// Whether /etc/hosts has the address `addr` (4 or 16 bytes) of `family`.
bool hosts_has_addr(const void* addr, int family) {
  for (const std::string& line : read_lines("/etc/hosts", false)) {
    std::vector<std::string> w = words(line);
    unsigned char buf[16];
    if (w.size() >= 2 && inet_pton(family, w[0].c_str(), buf) == 1 &&
        memcmp(buf, addr, family == AF_INET ? 4 : 16) == 0) {
      return true;
    }
  }
  return false;
}

bool numeric_host(const char* name) {
  in_addr a4;
  in6_addr a6;
  std::string s(name);
  size_t pct = s.find('%');  // a scope: fe80::1%en0
  if (pct != std::string::npos) {
    s.resize(pct);
  }
  return inet_aton(name, &a4) != 0 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

bool localhost_name(const char* name) {
  return dns::same_name(name, "localhost") || dns::same_name(name, "localhost.localdomain");
}

// Whether libc's own function answers this name without the network (or
// this process keeps the kernel's sockets anyway).
bool libc_resolves_name(const char* name, int family) {
  if (t_inside != 0 || passthrough() || name == nullptr || numeric_host(name) ||
      localhost_name(name)) {
    return true;
  }
  HostsSources s = read_nsswitch();
  return !s.dns || (s.files && hosts_has_name(name, family));
}

bool libc_resolves_addr(const void* addr, int family) {
  if (t_inside != 0 || passthrough()) {
    return true;
  }
  HostsSources s = read_nsswitch();
  return !s.dns || (s.files && hosts_has_addr(addr, family));
}

// --- one exchange with one server --------------------------------------------

uint16_t random_id() {
  uint16_t id = 0;
  if (getrandom(&id, sizeof id, GRND_NONBLOCK) != sizeof id) {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    id = static_cast<uint16_t>(ts.tv_nsec ^ (ts.tv_nsec >> 16));
  }
  return id;
}

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

enum class Xfer {
  kAnswer,    // *out holds the server's answer (any RCODE)
  kNoAnswer,  // silence, an ICMP error, a malformed answer: next server
  kNoStack,   // no stack socket can be made: stop
};

// Waits until `fd` is ready for `events` or `deadline` passes.
bool wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      return false;
    }
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r > 0) {
      return true;
    }
    if (r < 0 && errno != EINTR) {
      return false;
    }
  }
}

bool same_source(const sockaddr_in& from, socklen_t len, const sockaddr_in& server) {
  return len >= sizeof(sockaddr_in) && from.sin_family == AF_INET &&
         from.sin_addr.s_addr == server.sin_addr.s_addr && from.sin_port == server.sin_port;
}

// RFC 1035 §4.2.1: one datagram each way. Datagrams that are not the
// answer (another source, another ID or question) are ignored, as glibc
// does, and the wait goes on.
Xfer exchange_udp(const sockaddr_in& server, const std::vector<uint8_t>& query,
                  const dns::Question& q, int timeout_ms, dns::Answer* out,
                  std::vector<uint8_t>* raw) {
  Inside in;
  int fd = iopkt_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Xfer::kNoStack;
  }
  Xfer result = Xfer::kNoAnswer;
  int64_t deadline = now_ms() + timeout_ms;
  if (iopkt_connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) == 0 &&
      iopkt_send(fd, query.data(), query.size(), 0) == static_cast<ssize_t>(query.size())) {
    std::vector<uint8_t> buf(65536);
    while (wait_fd(fd, POLLIN, deadline)) {
      sockaddr_in from{};
      socklen_t fromlen = sizeof from;
      ssize_t n = iopkt_recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &fromlen);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          continue;
        }
        break;  // ECONNREFUSED (port unreachable) and the like
      }
      if (!same_source(from, fromlen, server)) {
        continue;
      }
      auto a = dns::parse_response(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), q);
      if (a) {
        *out = std::move(*a);
        raw->assign(buf.begin(), buf.begin() + n);
        result = Xfer::kAnswer;
        break;
      }
      if (!dns::not_ours(a.error())) {
        break;  // the server's answer is malformed
      }
    }
  }
  iopkt_close(fd);
  return result;
}

// Sends or receives exactly `len` bytes on a non-blocking stream socket.
bool stream_io(int fd, uint8_t* p, size_t len, bool send, int64_t deadline) {
  while (len > 0) {
    ssize_t n = send ? iopkt_send(fd, p, len, MSG_NOSIGNAL) : iopkt_recv(fd, p, len, MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR) ||
        !wait_fd(fd, send ? POLLOUT : POLLIN, deadline)) {
      return false;
    }
  }
  return true;
}

// RFC 1035 §4.2.2 (and RFC 7766): the query and the answer over TCP, each
// after a two-octet length; for an answer that came back truncated.
Xfer exchange_tcp(const sockaddr_in& server, const std::vector<uint8_t>& query,
                  const dns::Question& q, int timeout_ms, dns::Answer* out,
                  std::vector<uint8_t>* raw) {
  Inside in;
  int fd = iopkt_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return Xfer::kNoStack;
  }
  Xfer result = Xfer::kNoAnswer;
  int64_t deadline = now_ms() + timeout_ms;
  bool connected =
      iopkt_connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) == 0;
  if (!connected && errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline)) {
    int err = 0;
    socklen_t len = sizeof err;
    connected = iopkt_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  std::vector<uint8_t> msg;
  msg.push_back(static_cast<uint8_t>(query.size() >> 8));
  msg.push_back(static_cast<uint8_t>(query.size() & 0xff));
  msg.insert(msg.end(), query.begin(), query.end());
  uint8_t lenbuf[2];
  if (connected && stream_io(fd, msg.data(), msg.size(), true, deadline) &&
      stream_io(fd, lenbuf, 2, false, deadline)) {
    std::vector<uint8_t> buf(static_cast<size_t>(lenbuf[0]) << 8 | lenbuf[1]);
    if (stream_io(fd, buf.data(), buf.size(), false, deadline)) {
      auto a = dns::parse_response(buf, q);
      if (a) {  // over TCP anything else is an error of this server
        *out = std::move(*a);
        *raw = std::move(buf);
        result = Xfer::kAnswer;
      }
    }
  }
  iopkt_close(fd);
  return result;
}

// --- one name, all servers ---------------------------------------------------

// h_errno values: 0 for success.
struct Lookup {
  int herr = HOST_NOT_FOUND;
  bool silent = false;  // TRY_AGAIN because no server answered or no stack
  dns::Answer answer;
  std::vector<uint8_t> raw;  // the message itself, for res_query
};

bool parsed_type(uint16_t t) {
  return t == dns::kTypeA || t == dns::kTypeAaaa || t == dns::kTypePtr;
}

// RFC 1035 §7.2, the way glibc's res_send goes: each attempt asks each
// server in turn, the wait growing with the attempt. NOERROR and NXDOMAIN
// are final; SERVFAIL, REFUSED, NOTIMP, FORMERR, silence and malformed
// answers move on to the next server.
Lookup query_servers(const ResolvConf& c, const std::string& name, uint16_t qtype) {
  Lookup lk;
  dns::Question q{random_id(), name, qtype};
  std::vector<uint8_t> query;
  if (!dns::build_query(q, &query)) {
    return lk;  // not a name that can be asked: HOST_NOT_FOUND
  }
  bool servfail = false, refused = false;
  int nservers = static_cast<int>(c.servers.size());
  for (int attempt = 0; attempt < c.attempts; ++attempt) {
    for (const sockaddr_in& server : c.servers) {
      int ms = (c.timeout * 1000 << attempt) / (attempt > 0 ? nservers : 1);
      ms = ms < 1000 ? 1000 : ms;
      dns::Answer a;
      std::vector<uint8_t> raw;
      Xfer x = exchange_udp(server, query, q, ms, &a, &raw);
      if (x == Xfer::kAnswer && a.truncated) {
        dns::Answer full;
        std::vector<uint8_t> full_raw;
        if (exchange_tcp(server, query, q, ms, &full, &full_raw) == Xfer::kAnswer) {
          a = std::move(full);
          raw = std::move(full_raw);
        }  // else: what fitted in the datagram
      }
      if (x == Xfer::kNoStack) {
        lk.herr = TRY_AGAIN;
        lk.silent = true;
        return lk;
      }
      if (x == Xfer::kNoAnswer) {
        continue;
      }
      switch (a.rcode) {
        case dns::Rcode::kNoError:
          // For the types parsed here, no record of the type at the end of
          // the chain; for others (res_query), an empty answer section.
          lk.herr = (parsed_type(qtype) ? a.addrs.empty() && a.names.empty() : a.ancount == 0)
                        ? NO_DATA
                        : 0;
          lk.answer = std::move(a);
          lk.raw = std::move(raw);
          return lk;
        case dns::Rcode::kNxDomain:
          lk.herr = HOST_NOT_FOUND;
          lk.answer = std::move(a);
          lk.raw = std::move(raw);
          return lk;
        case dns::Rcode::kServFail:
          servfail = true;
          break;
        default:
          refused = true;
          break;
      }
    }
  }
  // glibc: SERVFAIL or silence is worth trying again later; a server that
  // refused or did not understand is not.
  lk.herr = servfail || !refused ? TRY_AGAIN : NO_RECOVERY;
  lk.silent = !servfail && !refused;
  return lk;
}

// The search list, as glibc's res_search applies it (resolv.conf(5),
// "search" and "ndots"): a name with a trailing dot is asked as it is; one
// with at least ndots dots is asked as it is first; otherwise the search
// domains come first. NXDOMAIN and NODATA under a domain move on to the
// next; a server that cannot be reached ends the search.
Lookup lookup_name(const char* name, uint16_t qtype) {
  ResolvConf c = read_resolv_conf();
  std::string n(name);
  if (n.empty() || n == ".") {
    return Lookup{};  // HOST_NOT_FOUND, as glibc: no query for the root
  }
  size_t dots = 0;
  for (char ch : n) {
    dots += ch == '.' ? 1 : 0;
  }
  bool absolute = !n.empty() && n.back() == '.';
  if (absolute) {
    n.pop_back();
    return query_servers(c, n, qtype);
  }
  int saved = -1, last = HOST_NOT_FOUND;
  bool got_nodata = false, got_servfail = false, tried_as_is = false;
  if (dots >= static_cast<size_t>(c.ndots)) {
    Lookup lk = query_servers(c, n, qtype);
    if (lk.herr == 0 || lk.silent) {
      return lk;
    }
    saved = lk.herr;
    tried_as_is = true;
  }
  for (const std::string& domain : c.search) {
    std::string d = domain;
    while (!d.empty() && d.back() == '.') {
      d.pop_back();
    }
    Lookup lk = query_servers(c, d.empty() ? n : n + "." + d, qtype);
    // glibc stops at once when no server can be reached (ECONNREFUSED);
    // here silence too ends the search, so that it stays bounded by one
    // round of timeouts.
    if (lk.herr == 0 || lk.silent) {
      return lk;
    }
    last = lk.herr;
    if (lk.herr == NO_DATA) {
      got_nodata = true;
    } else if (lk.herr == TRY_AGAIN) {
      got_servfail = true;
    } else if (lk.herr != HOST_NOT_FOUND) {
      break;
    }
  }
  if (!tried_as_is) {
    Lookup lk = query_servers(c, n, qtype);
    if (lk.herr == 0 || lk.silent) {
      return lk;
    }
    last = lk.herr;
  }
  // As res_search: the as-is error when it was asked first, else NODATA
  // or SERVFAIL met under a domain, else the last error.
  Lookup lk;
  lk.herr = saved != -1 ? saved : got_nodata ? NO_DATA : got_servfail ? TRY_AGAIN : last;
  return lk;
}

// --- getaddrinfo -------------------------------------------------------------

int eai_of(int herr) {
  switch (herr) {
    case HOST_NOT_FOUND:
      return EAI_NONAME;
    case NO_DATA:
      return EAI_NODATA;  // glibc's: "No address associated with hostname"
    case TRY_AGAIN:
      return EAI_AGAIN;
    default:
      return EAI_FAIL;
  }
}

constexpr int kKnownAiFlags = AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_V4MAPPED | AI_ALL |
                              AI_ADDRCONFIG | AI_NUMERICSERV | AI_IDN | AI_CANONIDN;

int stack_getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                      addrinfo** res) {
  auto real_gai = real<decltype(&::getaddrinfo)>(r_getaddrinfo);
  addrinfo h{};
  if (hints != nullptr) {
    h.ai_flags = hints->ai_flags;
    h.ai_family = hints->ai_family;
    h.ai_socktype = hints->ai_socktype;
    h.ai_protocol = hints->ai_protocol;
  } else {
    h.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG;  // glibc's default hints
  }
  if ((h.ai_flags & ~kKnownAiFlags) != 0) {
    return EAI_BADFLAGS;
  }
  if (h.ai_family != AF_UNSPEC && h.ai_family != AF_INET && h.ai_family != AF_INET6) {
    return EAI_FAMILY;
  }
  if (node[0] == '\0') {
    return EAI_NONAME;
  }
  // Each address found becomes libc's own numeric lookup of it with the
  // caller's hints: libc then makes the entries (one per socket type),
  // the ports from `service` and its errors; AI_ADDRCONFIG would look at
  // the kernel's interfaces, not the stack's, and is left out (the stack's
  // addresses are IPv4: A records are what AF_UNSPEC asks for anyway).
  addrinfo nh = h;
  nh.ai_flags =
      (h.ai_flags & ~(AI_CANONNAME | AI_ADDRCONFIG | AI_V4MAPPED | AI_ALL | AI_IDN | AI_CANONIDN)) |
      AI_NUMERICHOST;
  if (service != nullptr) {  // a bad service is reported before the name, as glibc
    addrinfo* probe = nullptr;
    int r = real_gai(h.ai_family == AF_INET6 ? "::1" : "127.0.0.1", service, &nh, &probe);
    if (r != 0) {
      return r;
    }
    freeaddrinfo(probe);
  }

  bool v6 = h.ai_family == AF_INET6;
  Lookup lk = lookup_name(node, v6 ? dns::kTypeAaaa : dns::kTypeA);
  bool mapped = false;
  if (v6 && (h.ai_flags & AI_V4MAPPED) != 0 && (lk.herr != 0 || (h.ai_flags & AI_ALL) != 0)) {
    // RFC 3493 §6.1: IPv4-mapped addresses when there is no IPv6 one.
    Lookup l4 = lookup_name(node, dns::kTypeA);
    if (l4.herr == 0) {
      mapped = lk.herr != 0;
      if (mapped) {
        lk = std::move(l4);
      } else {
        for (auto& a : l4.answer.addrs) {
          std::array<uint8_t, 16> m{};
          m[10] = m[11] = 0xff;
          std::copy_n(a.begin(), 4, m.begin() + 12);
          lk.answer.addrs.push_back(m);
        }
      }
    }
  }
  if (lk.herr != 0) {
    return eai_of(lk.herr);
  }
  addrinfo* head = nullptr;
  addrinfo** tail = &head;
  for (const auto& a : lk.answer.addrs) {
    char text[INET6_ADDRSTRLEN];
    if (v6 && mapped) {
      snprintf(text, sizeof text, "::ffff:%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    } else {
      inet_ntop(v6 ? AF_INET6 : AF_INET, a.data(), text, sizeof text);
    }
    addrinfo* part = nullptr;
    int r = real_gai(text, service, &nh, &part);
    if (r != 0) {
      if (head != nullptr) {
        freeaddrinfo(head);
      }
      return r;
    }
    *tail = part;
    while (*tail != nullptr) {
      tail = &(*tail)->ai_next;
    }
  }
  if (head == nullptr) {
    return EAI_NODATA;
  }
  if ((h.ai_flags & AI_CANONNAME) != 0) {
    head->ai_canonname = strdup(lk.answer.canonical.c_str());
    if (head->ai_canonname == nullptr) {
      freeaddrinfo(head);
      return EAI_MEMORY;
    }
  }
  *res = head;
  return 0;
}

// --- hostent -----------------------------------------------------------------

// Lays a hostent out in the caller's buffer: the alias and address
// pointer arrays, the addresses, then the strings. ERANGE when it does not
// fit (the caller retries with a larger one).
int fill_hostent(const std::string& name, const std::vector<std::string>& aliases,
                 const std::vector<std::array<uint8_t, 16>>& addrs, int af, hostent* ret, char* buf,
                 size_t buflen) {
  size_t alen = af == AF_INET ? 4 : 16;
  uintptr_t base = reinterpret_cast<uintptr_t>(buf);
  size_t pad = (alignof(char*) - base % alignof(char*)) % alignof(char*);
  size_t need = pad + sizeof(char*) * (aliases.size() + 1 + addrs.size() + 1) +
                alen * addrs.size() + name.size() + 1;
  for (const std::string& a : aliases) {
    need += a.size() + 1;
  }
  if (need > buflen) {
    return ERANGE;
  }
  char* p = buf + pad;
  auto** alias_list = reinterpret_cast<char**>(p);
  p += sizeof(char*) * (aliases.size() + 1);
  auto** addr_list = reinterpret_cast<char**>(p);
  p += sizeof(char*) * (addrs.size() + 1);
  for (size_t i = 0; i < addrs.size(); ++i) {
    memcpy(p, addrs[i].data(), alen);
    addr_list[i] = p;
    p += alen;
  }
  addr_list[addrs.size()] = nullptr;
  memcpy(p, name.c_str(), name.size() + 1);
  ret->h_name = p;
  p += name.size() + 1;
  for (size_t i = 0; i < aliases.size(); ++i) {
    memcpy(p, aliases[i].c_str(), aliases[i].size() + 1);
    alias_list[i] = p;
    p += aliases[i].size() + 1;
  }
  alias_list[aliases.size()] = nullptr;
  ret->h_aliases = alias_list;
  ret->h_addrtype = af;
  ret->h_length = static_cast<int>(alen);
  ret->h_addr_list = addr_list;
  return 0;
}

// The return values of glibc's reentrant functions: 0 with *result set,
// 0 with *result NULL when the name is not found (h_errno says why),
// EAGAIN for TRY_AGAIN, ERANGE for a buffer too small.
int stack_gethostbyname2_r(const char* name, int af, hostent* ret, char* buf, size_t buflen,
                           hostent** result, int* h_errnop) {
  *result = nullptr;
  if (af != AF_INET && af != AF_INET6) {
    *h_errnop = NETDB_INTERNAL;
    errno = EAFNOSUPPORT;
    return EAFNOSUPPORT;
  }
  Lookup lk = lookup_name(name, af == AF_INET ? dns::kTypeA : dns::kTypeAaaa);
  if (lk.herr != 0) {
    *h_errnop = lk.herr;
    return lk.herr == TRY_AGAIN ? EAGAIN : 0;
  }
  int r =
      fill_hostent(lk.answer.canonical, lk.answer.aliases, lk.answer.addrs, af, ret, buf, buflen);
  if (r != 0) {
    *h_errnop = NETDB_INTERNAL;
    errno = r;
    return r;
  }
  *h_errnop = 0;
  *result = ret;
  return 0;
}

// The reverse name of an address (RFC 1035 §3.5, RFC 3596 §2.5).
std::string reverse_name(const uint8_t* a, int af) {
  char buf[80];
  std::string out;
  if (af == AF_INET) {
    snprintf(buf, sizeof buf, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
    return buf;
  }
  static const char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out += kHex[a[i] & 0xf];
    out += '.';
    out += kHex[a[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa";
}

// PTR lookup: the names of an address, without the search list.
Lookup lookup_addr(const uint8_t* a, int af) {
  ResolvConf c = read_resolv_conf();
  return query_servers(c, reverse_name(a, af), dns::kTypePtr);
}

int stack_gethostbyaddr_r(const void* addr, socklen_t len, int af, hostent* ret, char* buf,
                          size_t buflen, hostent** result, int* h_errnop) {
  *result = nullptr;
  if ((af != AF_INET || len != 4) && (af != AF_INET6 || len != 16)) {
    *h_errnop = NETDB_INTERNAL;
    errno = EAFNOSUPPORT;
    return EAFNOSUPPORT;
  }
  Lookup lk = lookup_addr(static_cast<const uint8_t*>(addr), af);
  if (lk.herr != 0) {
    *h_errnop = lk.herr;
    return lk.herr == TRY_AGAIN ? EAGAIN : 0;
  }
  std::array<uint8_t, 16> a{};
  memcpy(a.data(), addr, len);
  std::vector<std::string> aliases(lk.answer.names.begin() + 1, lk.answer.names.end());
  int r = fill_hostent(lk.answer.names[0], aliases, {a}, af, ret, buf, buflen);
  if (r != 0) {
    *h_errnop = NETDB_INTERNAL;
    errno = r;
    return r;
  }
  *h_errnop = 0;
  *result = ret;
  return 0;
}

// gethostbyname and the like return a hostent of their own, overwritten
// by the next call: one per thread here (glibc's is one per process).
struct HostentBuf {
  hostent h;
  char* buf;
  size_t len;
};
thread_local HostentBuf t_hostent;

template <typename F>
hostent* with_static(F fill) {
  HostentBuf& s = t_hostent;
  for (;;) {
    if (s.buf == nullptr) {
      s.len = 1024;
      s.buf = static_cast<char*>(malloc(s.len));
      if (s.buf == nullptr) {
        h_errno = NETDB_INTERNAL;
        errno = ENOMEM;
        return nullptr;
      }
    }
    hostent* result = nullptr;
    int herr = 0;
    int r = fill(&s.h, s.buf, s.len, &result, &herr);
    if (r == ERANGE && s.len < (1u << 20)) {
      free(s.buf);
      s.buf = nullptr;
      s.len *= 4;
      char* b = static_cast<char*>(malloc(s.len));
      if (b == nullptr) {
        h_errno = NETDB_INTERNAL;
        errno = ENOMEM;
        return nullptr;
      }
      s.buf = b;
      continue;
    }
    h_errno = herr;
    return result;
  }
}

// --- getnameinfo -------------------------------------------------------------

int stack_getnameinfo(const sockaddr* sa, socklen_t salen, char* host, socklen_t hostlen,
                      char* serv, socklen_t servlen, int flags) {
  auto real_gni = real<decltype(&::getnameinfo)>(r_getnameinfo);
  const uint8_t* addr = nullptr;
  int af = sa->sa_family;
  if (af == AF_INET && salen >= sizeof(sockaddr_in)) {
    addr = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
  } else if (af == AF_INET6 && salen >= sizeof(sockaddr_in6)) {
    addr = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  }
  if (addr == nullptr || libc_resolves_addr(addr, af)) {
    return real_gni(sa, salen, host, hostlen, serv, servlen, flags);
  }
  // The service (from /etc/services, or numeric) is libc's.
  if (serv != nullptr && servlen > 0) {
    int r = real_gni(sa, salen, nullptr, 0, serv, servlen, flags);
    if (r != 0) {
      return r;
    }
  }
  Lookup lk = lookup_addr(addr, af);
  if (lk.herr == 0) {
    std::string name = lk.answer.names[0];
    if ((flags & NI_NOFQDN) != 0) {
      name = name.substr(0, name.find('.'));  // glibc strips its own domain only
    }
    if (name.size() + 1 > hostlen) {
      return EAI_OVERFLOW;
    }
    memcpy(host, name.c_str(), name.size() + 1);
    return 0;
  }
  if ((flags & NI_NAMEREQD) != 0) {
    return lk.herr == TRY_AGAIN ? EAI_AGAIN : EAI_NONAME;
  }
  return real_gni(sa, salen, host, hostlen, nullptr, 0, flags | NI_NUMERICHOST);
}

// --- res_query, res_search, res_querydomain ------------------------------------

enum class ResKind { kQuery, kSearch };

// glibc's res_query contract: the answer's length, or -1 with h_errno
// (HOST_NOT_FOUND, NO_DATA, TRY_AGAIN, NO_RECOVERY); the server's message
// is copied into `answer` either way, cut at `anslen`. Class IN only.
int stack_res(ResKind kind, const char* name, int rclass, int type, unsigned char* answer,
              int anslen, int* state_herr) {
  int herr = NO_RECOVERY;
  int n = -1;
  if (name != nullptr && rclass == dns::kClassIn && type > 0 && type <= 0xffff && anslen >= 0) {
    Lookup lk;
    if (kind == ResKind::kSearch) {
      lk = lookup_name(name, static_cast<uint16_t>(type));
    } else {
      lk = query_servers(read_resolv_conf(), name, static_cast<uint16_t>(type));
    }
    size_t len = std::min(lk.raw.size(), static_cast<size_t>(anslen));
    if (answer != nullptr && len > 0) {
      memcpy(answer, lk.raw.data(), len);
    }
    herr = lk.herr;
    n = herr == 0 ? static_cast<int>(len) : -1;
  }
  h_errno = herr;
  if (state_herr != nullptr) {
    *state_herr = herr;
  }
  return n;
}

bool libc_res() { return t_inside != 0 || passthrough(); }

std::string join_domain(const char* name, const char* domain) {
  std::string n(name);
  if (domain == nullptr || domain[0] == '\0') {
    return n;
  }
  return n + "." + domain;
}

}  // namespace
}  // namespace iopkt::preload

namespace ip = iopkt::preload;

extern "C" {

int getaddrinfo(const char* __restrict node, const char* __restrict service,
                const struct addrinfo* __restrict hints, struct addrinfo** __restrict res) {
  int family = hints != nullptr ? hints->ai_family : AF_UNSPEC;
  if (node == nullptr || (hints != nullptr && (hints->ai_flags & AI_NUMERICHOST) != 0) ||
      ip::libc_resolves_name(node, family)) {
    return ip::real<decltype(&::getaddrinfo)>(ip::r_getaddrinfo)(node, service, hints, res);
  }
  return ip::stack_getaddrinfo(node, service, hints, res);
}

int gethostbyname2_r(const char* __restrict name, int af, struct hostent* __restrict ret,
                     char* __restrict buf, size_t buflen, struct hostent** __restrict result,
                     int* __restrict h_errnop) {
  if (ip::libc_resolves_name(name, af)) {
    return ip::real<decltype(&::gethostbyname2_r)>(ip::r_gethostbyname2_r)(
        name, af, ret, buf, buflen, result, h_errnop);
  }
  return ip::stack_gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop);
}

int gethostbyname_r(const char* __restrict name, struct hostent* __restrict ret,
                    char* __restrict buf, size_t buflen, struct hostent** __restrict result,
                    int* __restrict h_errnop) {
  if (ip::libc_resolves_name(name, AF_INET)) {
    return ip::real<decltype(&::gethostbyname_r)>(ip::r_gethostbyname_r)(name, ret, buf, buflen,
                                                                         result, h_errnop);
  }
  return ip::stack_gethostbyname2_r(name, AF_INET, ret, buf, buflen, result, h_errnop);
}

struct hostent* gethostbyname2(const char* name, int af) {
  if (ip::libc_resolves_name(name, af)) {
    return ip::real<decltype(&::gethostbyname2)>(ip::r_gethostbyname2)(name, af);
  }
  return ip::with_static([&](hostent* h, char* b, size_t n, hostent** r, int* e) {
    return ip::stack_gethostbyname2_r(name, af, h, b, n, r, e);
  });
}

struct hostent* gethostbyname(const char* name) {
  if (ip::libc_resolves_name(name, AF_INET)) {
    return ip::real<decltype(&::gethostbyname)>(ip::r_gethostbyname)(name);
  }
  return ip::with_static([&](hostent* h, char* b, size_t n, hostent** r, int* e) {
    return ip::stack_gethostbyname2_r(name, AF_INET, h, b, n, r, e);
  });
}

int gethostbyaddr_r(const void* __restrict addr, socklen_t len, int af,
                    struct hostent* __restrict ret, char* __restrict buf, size_t buflen,
                    struct hostent** __restrict result, int* __restrict h_errnop) {
  if (addr == nullptr || ip::libc_resolves_addr(addr, af)) {
    return ip::real<decltype(&::gethostbyaddr_r)>(ip::r_gethostbyaddr_r)(addr, len, af, ret, buf,
                                                                         buflen, result, h_errnop);
  }
  return ip::stack_gethostbyaddr_r(addr, len, af, ret, buf, buflen, result, h_errnop);
}

struct hostent* gethostbyaddr(const void* addr, socklen_t len, int af) {
  if (addr == nullptr || ip::libc_resolves_addr(addr, af)) {
    return ip::real<decltype(&::gethostbyaddr)>(ip::r_gethostbyaddr)(addr, len, af);
  }
  return ip::with_static([&](hostent* h, char* b, size_t n, hostent** r, int* e) {
    return ip::stack_gethostbyaddr_r(addr, len, af, h, b, n, r, e);
  });
}

int getnameinfo(const struct sockaddr* __restrict sa, socklen_t salen, char* __restrict host,
                socklen_t hostlen, char* __restrict serv, socklen_t servlen, int flags) {
  if (sa == nullptr || host == nullptr || hostlen == 0 || (flags & NI_NUMERICHOST) != 0) {
    return ip::real<decltype(&::getnameinfo)>(ip::r_getnameinfo)(sa, salen, host, hostlen, serv,
                                                                 servlen, flags);
  }
  return ip::stack_getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
}

// The res_* family (RFC 1035 raw messages). Since glibc 2.34 both the
// plain names and the __res_* names that older headers map them to are
// libc's symbols; both are defined here. res_send and res_nsend (a query
// the program built) still go to libc: see docs/preload.md.
using ResQueryFn = int (*)(const char*, int, int, unsigned char*, int);
using ResNQueryFn = int (*)(res_state, const char*, int, int, unsigned char*, int);
using ResQueryDomainFn = int (*)(const char*, const char*, int, int, unsigned char*, int);
using ResNQueryDomainFn = int (*)(res_state, const char*, const char*, int, int, unsigned char*,
                                  int);

#define IOPKT_RES_QUERY(fn, kind)                                                              \
  int fn(const char* name, int rclass, int type, unsigned char* answer, int anslen) noexcept { \
    static ip::RealFn real_fn{#fn};                                                            \
    if (ip::libc_res()) {                                                                      \
      return ip::real<ResQueryFn>(real_fn)(name, rclass, type, answer, anslen);                \
    }                                                                                          \
    return ip::stack_res(kind, name, rclass, type, answer, anslen, nullptr);                   \
  }
#define IOPKT_RES_NQUERY(fn, kind)                                                    \
  int fn(res_state st, const char* name, int rclass, int type, unsigned char* answer, \
         int anslen) noexcept {                                                       \
    static ip::RealFn real_fn{#fn};                                                   \
    if (ip::libc_res()) {                                                             \
      return ip::real<ResNQueryFn>(real_fn)(st, name, rclass, type, answer, anslen);  \
    }                                                                                 \
    return ip::stack_res(kind, name, rclass, type, answer, anslen,                    \
                         st != nullptr ? &st->res_h_errno : nullptr);                 \
  }
IOPKT_RES_QUERY(res_query, ip::ResKind::kQuery)
IOPKT_RES_QUERY(__res_query, ip::ResKind::kQuery)
IOPKT_RES_QUERY(res_search, ip::ResKind::kSearch)
IOPKT_RES_QUERY(__res_search, ip::ResKind::kSearch)
IOPKT_RES_NQUERY(res_nquery, ip::ResKind::kQuery)
IOPKT_RES_NQUERY(__res_nquery, ip::ResKind::kQuery)
IOPKT_RES_NQUERY(res_nsearch, ip::ResKind::kSearch)
IOPKT_RES_NQUERY(__res_nsearch, ip::ResKind::kSearch)
#undef IOPKT_RES_QUERY
#undef IOPKT_RES_NQUERY

int res_querydomain(const char* name, const char* domain, int rclass, int type,
                    unsigned char* answer, int anslen) noexcept {
  static ip::RealFn real_fn{"res_querydomain"};
  if (ip::libc_res()) {
    return ip::real<ResQueryDomainFn>(real_fn)(name, domain, rclass, type, answer, anslen);
  }
  std::string full = ip::join_domain(name, domain);
  return ip::stack_res(ip::ResKind::kQuery, full.c_str(), rclass, type, answer, anslen, nullptr);
}

int __res_querydomain(const char* name, const char* domain, int rclass, int type,
                      unsigned char* answer, int anslen) noexcept {
  return res_querydomain(name, domain, rclass, type, answer, anslen);
}

int res_nquerydomain(res_state st, const char* name, const char* domain, int rclass, int type,
                     unsigned char* answer, int anslen) noexcept {
  static ip::RealFn real_fn{"res_nquerydomain"};
  if (ip::libc_res()) {
    return ip::real<ResNQueryDomainFn>(real_fn)(st, name, domain, rclass, type, answer, anslen);
  }
  std::string full = ip::join_domain(name, domain);
  return ip::stack_res(ip::ResKind::kQuery, full.c_str(), rclass, type, answer, anslen,
                       st != nullptr ? &st->res_h_errno : nullptr);
}

int __res_nquerydomain(res_state st, const char* name, const char* domain, int rclass, int type,
                       unsigned char* answer, int anslen) noexcept {
  return res_nquerydomain(st, name, domain, rclass, type, answer, anslen);
}

}  // extern "C"
