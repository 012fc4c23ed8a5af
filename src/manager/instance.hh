// manager/instance.hh — the instance registry (SPEC §1 -i, control.h): a
// live instance N holds an flock() on ${rundir}/io-pkt.N, whose text is
// "PID PREFIX\n". A second instance N finds the lock taken and refuses to
// start; `mount -T io-pktN` reads the file to find instance N's endpoint; a
// killed instance's lock dies with its last file descriptor.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "kern/result.hh"

namespace iopkt {

// $IOPKT_RUNDIR if set and not empty, else /run/iopkt when running as root
// (euid 0), else /tmp/iopkt-UID. Created (mode 0755, parents too) if
// missing; failures show when the lock file is opened.
std::string instance_rundir();

// ${rundir}/io-pkt.N
std::string instance_lock_path(int instance);

class InstanceLock {
 public:
  // Creates or opens the lock file, takes flock(LOCK_EX | LOCK_NB) and
  // writes "PID PREFIX\n". If instance N is alive the error reads
  //   instance N is already running (pid P, prefix "X")
  // flock() belongs to the open file description, so a second acquire in
  // the same process conflicts as well. The run directory must belong to
  // root or to us (it may be a shared /tmp).
  static Result<InstanceLock, std::string> acquire(int instance, const std::string& prefix);

  InstanceLock(InstanceLock&& other) noexcept;
  InstanceLock& operator=(InstanceLock&& other) noexcept;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;
  ~InstanceLock();  // release()

  // Rewrites the file with getpid(): call it in the daemon child after
  // Startup::begin(). The lock itself survives the fork (the descriptor is
  // shared and the parent leaves with _exit()).
  void update_pid();

  // Removes the file (if it is still ours), then unlocks. Idempotent.
  void release();

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  InstanceLock(int fd, std::string path, std::string prefix, dev_t dev, ino_t ino)
      : fd_(fd), path_(std::move(path)), prefix_(std::move(prefix)), dev_(dev), ino_(ino) {}
  bool write_record();

  int fd_ = -1;
  std::string path_;
  std::string prefix_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

struct InstanceInfo {
  int pid = 0;  // 0: the holder has locked the file but not written it yet
  std::string prefix;
};

// Instance N's record, only if its lock is actually held (by any process,
// this one included). A file left by a killed instance gives nullopt.
std::optional<InstanceInfo> lookup_instance(int instance);

// Parses "PID PREFIX\n" (the prefix may be empty or contain spaces).
std::optional<InstanceInfo> parse_instance_record(const std::string& text);

}  // namespace iopkt
