// manager/typed_mem.cc — packet buffers from a named memory object; see
// typed_mem.hh.
#include "manager/typed_mem.hh"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "manager/log.hh"

namespace iopkt {
namespace {

constexpr long kHugetlbfsMagic = 0x958458f6;  // linux/magic.h HUGETLBFS_MAGIC

std::string errno_text(int err) { return strerror(err); }

}  // namespace

Result<std::unique_ptr<TypedMemory>, std::string> TypedMemory::open(const std::string& name,
                                                                    size_t quantum) {
  if (name.empty()) {
    return Err(std::string("pkt_typed_mem: empty name"));
  }
  std::string path = name.find('/') != std::string::npos ? name : "/dev/shm/" + name;
  std::string what = "pkt_typed_mem " + path;
  bool created = false;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    created = fd >= 0;
  }
  if (fd < 0) {
    return Err(what + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int err = errno;
    ::close(fd);
    return Err(what + ": " + (S_ISREG(st.st_mode) ? errno_text(err) : "not a regular file"));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Err(what + ": in use by another process");
    }
    return Err(what + ": flock: " + errno_text(err));
  }
  size_t unit = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  struct statfs fs {};
  if (::fstatfs(fd, &fs) == 0 && static_cast<long>(fs.f_type) == kHugetlbfsMagic) {
    unit = static_cast<size_t>(fs.f_bsize);  // hugetlbfs reports its page size here
  }
  if (quantum == 0) {
    quantum = unit;
  }
  quantum = (quantum + unit - 1) / unit * unit;
  // Whatever the file held is not ours to keep: start from an empty object.
  if (::ftruncate(fd, 0) != 0) {
    int err = errno;
    ::close(fd);
    if (created) {
      ::unlink(path.c_str());
    }
    return Err(what + ": ftruncate: " + errno_text(err));
  }
  return std::unique_ptr<TypedMemory>(new TypedMemory(fd, path, quantum, created));
}

TypedMemory::~TypedMemory() {
  for (auto& [p, block] : blocks_) {
    munmap(p, block.size);
  }
  if (created_) {
    ::unlink(path_.c_str());
  } else {
    (void)::ftruncate(fd_, 0);
  }
  ::close(fd_);
}

size_t TypedMemory::round_up(size_t bytes) const {
  if (bytes == 0) {
    bytes = 1;
  }
  return (bytes + quantum_ - 1) / quantum_ * quantum_;
}

void* TypedMemory::alloc(size_t bytes) {
  size_t size = round_up(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = free_blocks_.find(size);
  if (it != free_blocks_.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    blocks_[p].free = false;
    return p;
  }
  off_t offset = static_cast<off_t>(end_);
  int err = 0;
  const char* step = nullptr;
  void* p = MAP_FAILED;
  // On tmpfs and hugetlbfs ftruncate only sets the size; pages come on first
  // touch, so a full object would show as SIGBUS in the packet path.
  // fallocate() reserves them now, where the error can be reported.
  if (::ftruncate(fd_, offset + static_cast<off_t>(size)) != 0) {
    err = errno;
    step = "ftruncate";
  } else if (::fallocate(fd_, 0, offset, static_cast<off_t>(size)) != 0 && errno != EOPNOTSUPP) {
    err = errno;
    step = "fallocate";
  } else {
    p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, offset);
    if (p == MAP_FAILED) {
      err = errno;
      step = "mmap";
    }
  }
  if (p == MAP_FAILED) {
    (void)::ftruncate(fd_, offset);  // give back what this attempt added
    last_error_ = "pkt_typed_mem " + path_ + ": " + step + " to " + std::to_string(end_ + size) +
                  " bytes: " + errno_text(err);
    static LogRateLimit limit(1);
    if (limit.allow()) {
      log_msg(LOG_ERR, "%s", last_error_.c_str());
    }
    return nullptr;
  }
  end_ += size;
  blocks_.emplace(p, Block{size, false});
  return p;
}

void TypedMemory::free(void* p, size_t bytes) {
  if (p == nullptr) {
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blocks_.find(p);
  if (it == blocks_.end() || it->second.size != round_up(bytes) || it->second.free) {
    // A pointer we did not hand out, one with another size, or a second
    // free: keeping it would hand the memory out twice. Refuse loudly.
    log_msg(LOG_ERR, "pkt_typed_mem %s: bad free of block %p (%zu bytes) ignored", path_.c_str(), p,
            bytes);
    return;
  }
  it->second.free = true;
  free_blocks_[it->second.size].push_back(p);
}

size_t TypedMemory::reserved() const {
  std::lock_guard<std::mutex> lock(mu_);
  return end_;
}

std::string TypedMemory::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

}  // namespace iopkt
