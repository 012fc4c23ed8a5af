// fuzz/fuzz_reader.hh — reading a fuzzer's input as fields: past the end
// every read gives zeros (or fewer bytes), so a target never reads out of
// bounds and any input is a valid script.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace iopkt::test {

struct FuzzReader {
  const uint8_t* p;
  size_t n;
  uint8_t u8() {
    if (n == 0) {
      return 0;
    }
    --n;
    return *p++;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() << 8 | u8()); }
  std::vector<std::byte> bytes(size_t want) {
    size_t k = std::min(want, n);
    std::vector<std::byte> out(reinterpret_cast<const std::byte*>(p),
                               reinterpret_cast<const std::byte*>(p) + k);
    p += k;
    n -= k;
    return out;
  }
};

}  // namespace iopkt::test
