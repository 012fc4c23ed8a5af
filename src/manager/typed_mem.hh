// manager/typed_mem.hh — `pkt_typed_mem=NAME` (SPEC §1): packet buffers
// from a named memory object. QNX names a typed memory region; on Linux the
// object is a file whose pages back the pools: a hugetlbfs file for huge
// pages, or a file in /dev/shm. Quanta are mapped MAP_SHARED, so the memory
// is visible (and accounted) under that name.
//
// Plugs into PoolConfig (kern/mbuf.hh):
//   cfg.chunk_alloc = [tm](size_t n) { return tm->alloc(n); };
//   cfg.chunk_free = [tm](void* p, size_t n) { tm->free(p, n); };
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kern/result.hh"

namespace iopkt {

class TypedMemory {
 public:
  // NAME containing '/' is a file path; a bare name is /dev/shm/NAME. The
  // file is created (0600) if missing, locked for exclusive use (two stacks
  // sharing one object would share packet memory) and truncated to 0.
  // `quantum` (0: the page size) is rounded up to the page size, and to the
  // huge page size on hugetlbfs. Errors name the object and the errno.
  static Result<std::unique_ptr<TypedMemory>, std::string> open(const std::string& name,
                                                                size_t quantum);

  // Unmaps everything; a file we created is removed, one that existed is
  // truncated to 0 (its pages are given back either way).
  ~TypedMemory();
  TypedMemory(const TypedMemory&) = delete;
  TypedMemory& operator=(const TypedMemory&) = delete;

  // `bytes` rounded up to whole quanta: a block freed earlier with the same
  // rounded size, or a new mapping of the file extended by that much.
  // nullptr when the object cannot grow (logged, rate-limited, and kept in
  // last_error()). Thread-safe.
  void* alloc(size_t bytes);
  // Returns a block from alloc(p's size) for reuse; the file never shrinks.
  void free(void* p, size_t bytes);

  size_t reserved() const;  // bytes of the file mapped so far
  size_t quantum() const { return quantum_; }
  const std::string& path() const { return path_; }
  std::string last_error() const;

 private:
  TypedMemory(int fd, std::string path, size_t quantum, bool created)
      : fd_(fd), path_(std::move(path)), quantum_(quantum), created_(created) {}
  size_t round_up(size_t bytes) const;

  int fd_;
  std::string path_;
  size_t quantum_;
  bool created_;
  mutable std::mutex mu_;
  size_t end_ = 0;  // file size
  struct Block {
    size_t size;
    bool free;
  };
  std::unordered_map<void*, Block> blocks_;           // every mapping
  std::map<size_t, std::vector<void*>> free_blocks_;  // by size
  std::string last_error_;
};

}  // namespace iopkt
