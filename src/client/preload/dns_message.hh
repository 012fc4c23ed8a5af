// client/preload/dns_message.hh — DNS messages for the preload library's
// stub resolver (resolver.cc): a query built, an answer parsed and checked
// against its question. Wire format only: no I/O here, so that the parser
// can be fuzzed (tests/fuzz/dns_message_fuzz.cc) and unit-tested.
//
// Read RFC 1035 §4 (message format, §4.1.4 compression) and RFC 2181 §10
// (CNAME) before changing this file.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kern/result.hh"

namespace iopkt::preload::dns {

constexpr uint16_t kTypeA = 1;        // RFC 1035 §3.2.2
constexpr uint16_t kTypeCname = 5;    // RFC 1035 §3.2.2
constexpr uint16_t kTypePtr = 12;     // RFC 1035 §3.2.2
constexpr uint16_t kTypeAaaa = 28;    // RFC 3596 §2.1
constexpr uint16_t kClassIn = 1;      // RFC 1035 §3.2.4
constexpr size_t kHeaderSize = 12;    // RFC 1035 §4.1.1
constexpr size_t kMaxNameWire = 255;  // RFC 1035 §2.3.4: length octets included
constexpr size_t kMaxLabel = 63;      // RFC 1035 §2.3.4
constexpr size_t kMaxUdpSize = 512;   // RFC 1035 §4.2.1, no EDNS0 offered
// A CNAME chain longer than this is not followed (glibc gives up on long
// chains too; a loop ends here as well).
constexpr int kMaxCnameChain = 16;
// Compression pointers followed while reading one name: a name has at most
// 127 labels, so more jumps than that can only be a loop.
constexpr int kMaxPointerHops = 127;

// RFC 1035 §4.1.1 RCODE.
enum class Rcode : uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

// Why a message was not taken as the answer to our question. The first
// three mean "not ours" (a resolver keeps waiting for the right one); the
// rest mean the server's answer is unusable.
enum class ParseError {
  kWrongId,           // header ID is not the query's
  kNotResponse,       // QR clear or an opcode other than QUERY
  kQuestionMismatch,  // question section does not echo ours
  kTruncated,         // a field runs past the end of the message
  kBadName,           // label type 01/10, name over 255 octets, pointer loop
  kBadRecord,         // A/AAAA RDATA of the wrong length, CNAME RDATA overrun
};
const char* parse_error_name(ParseError e);
// Whether the message may still be followed by the real answer.
inline bool not_ours(ParseError e) {
  return e == ParseError::kWrongId || e == ParseError::kNotResponse ||
         e == ParseError::kQuestionMismatch;
}

// The question a response must echo (RFC 1035 §7.3: "check that the
// response matches the query").
struct Question {
  uint16_t id = 0;
  std::string name;  // text form, no trailing dot; compared case-insensitively
  uint16_t type = kTypeA;
};

struct Answer {
  uint16_t id = 0;
  Rcode rcode = Rcode::kNoError;
  bool truncated = false;      // TC: the answer did not fit (RFC 1035 §4.1.1)
  bool authoritative = false;  // AA
  uint16_t ancount = 0;        // records in the answer section, all types
  // The end of the CNAME chain from the question's name: the owner of the
  // addresses (AI_CANONNAME, h_name). The question's name without a chain.
  std::string canonical;
  // The names met on the way (question's name first), canonical excluded:
  // gethostbyname's h_aliases.
  std::vector<std::string> aliases;
  // RDATA of the records of the question's type owned by `canonical`, in
  // the message's order: 4 bytes for A, 16 for AAAA. PTR targets in names.
  std::vector<std::array<uint8_t, 16>> addrs;
  std::vector<std::string> names;
};

// A name as text: labels joined by '.', no trailing dot, the root "".
// Bytes that would make the text ambiguous are escaped as in master files
// (RFC 1035 §5.1): '.' and '\' as "\." and "\\", other bytes outside
// 0x21..0x7e as "\DDD". Reads at *pos (pointers anywhere in `msg`) and
// moves *pos past the name as it sits at *pos.
Result<std::string, ParseError> read_name(std::span<const uint8_t> msg, size_t* pos);

// Whether two text names are the same (ASCII case-insensitive, RFC 4343).
bool same_name(std::string_view a, std::string_view b);

// A standard query with RD set for (q.id, q.name, q.type) class IN, in
// *out. False (nothing written) when the name cannot be sent: an empty
// label, a label over 63 octets, more than 255 octets, or a backslash (no
// escapes are taken from callers). A trailing dot is allowed.
bool build_query(const Question& q, std::vector<uint8_t>* out);

// Parses `msg` as the response to `q`: ID, QR, opcode, the question echoed
// (one entry, same name, type and class; a response with no question is
// taken only with an error RCODE, as servers answer FORMERR), then the
// answer section followed along the CNAME chain. Authority and additional
// sections are not read. With TC set, records cut off by the end of the
// message are dropped rather than an error.
Result<Answer, ParseError> parse_response(std::span<const uint8_t> msg, const Question& q);

}  // namespace iopkt::preload::dns
