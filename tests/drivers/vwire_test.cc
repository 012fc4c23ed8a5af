// tests/drivers/vwire_test.cc — devnp-vwire.so through its C ABI only:
// dlopen()ed like io-pkt does, driven by a fake host that records what the
// module attaches (support/fake_host.hh), with two ends in one process, in
// two processes, and with the link emulation options. Every wait is bounded
// by a timeout; wire names carry the pid so that parallel test processes
// never share a wire.
#include "drivers/devnp-vwire/vwire.hh"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "drivers/support/fake_host.hh"
#include "drivers/support/frames.hh"
#include "iopkt/driver.h"

namespace {

using namespace iopkt::driver_test;

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

bool shm_exists(const std::string& wire) {
  struct stat st;
  return stat(("/dev/shm/iopkt-vwire-" + wire).c_str(), &st) == 0;
}

struct Module : LoadedModule {
  Module() : LoadedModule("devnp-vwire.so") {}
  iopkt_vwire_get_stats_fn get_stats =
      symbol<iopkt_vwire_get_stats_fn>(IOPKT_VWIRE_GET_STATS_SYMBOL);
};

const Module& module() {
  static const Module m;
  return m;
}

struct Arrival {
  std::vector<uint8_t> bytes;
  int64_t at_ns;
};

// One end of a wire as the stack's packet thread would drive it.
class End : public AttachedIf {
 public:
  explicit End(FakeIf* fi, uint32_t cap = 65536) : AttachedIf(fi), cap_(cap) {}

  // One rx_burst of up to n frames into the inbox; returns its result.
  int poll_once(uint32_t n = kBurst) {
    std::vector<Bytes> got;
    int rc = fi_->receive(&got, std::min<uint32_t>(n, kBurst), cap_);
    int64_t t = now_ns();
    for (auto& f : got) {
      inbox.push_back({std::move(f), t});
    }
    return rc;
  }

  iopkt_vwire_stats stats() const { return read_stats(module().get_stats, fi_); }

  std::vector<Arrival> inbox;
  static constexpr uint32_t kBurst = 64;

 private:
  uint32_t cap_;
};

// Services every end's rx_fd, as the stack's packet threads do (a sender's
// rx_fd carries its emulation timer), until `to` holds `want` frames or
// `timeout_ms` has passed. Returns whether `to` got them.
bool pump(std::initializer_list<End*> ends, End* to, size_t want, int timeout_ms) {
  int64_t deadline = now_ns() + int64_t{timeout_ms} * 1000000;
  std::vector<int> kicks_seen;
  for (End* e : ends) {
    kicks_seen.push_back(e->fake()->kicks.load());
  }
  for (int iter = 0; iter < 1000000; ++iter) {
    if (to->inbox.size() >= want) {
      return true;
    }
    int64_t left_ms = (deadline - now_ns()) / 1000000;
    if (left_ms <= 0) {
      break;
    }
    // if_rx_kick: frames are waiting although rx_fd may not signal.
    bool kicked = false;
    size_t i = 0;
    for (End* e : ends) {
      kicked = kicked || e->fake()->kicks.load() != kicks_seen[i++];
    }
    std::vector<pollfd> pfds;
    for (End* e : ends) {
      pfds.push_back({e->fd(), POLLIN, 0});
    }
    int wait_ms = kicked ? 0 : static_cast<int>(std::min<int64_t>(left_ms, 50));
    if (poll(pfds.data(), pfds.size(), wait_ms) < 0) {
      continue;
    }
    i = 0;
    for (End* e : ends) {
      int k = e->fake()->kicks.load();
      if ((pfds[i].revents & POLLIN) != 0 || k != kicks_seen[i]) {
        kicks_seen[i] = k;
        e->poll_once();
      }
      ++i;
    }
  }
  return to->inbox.size() >= want;
}

std::vector<uint32_t> seqs(const std::vector<Arrival>& in) {
  std::vector<uint32_t> r;
  for (const auto& a : in) {
    r.push_back(test_frame_seq(a.bytes));
  }
  return r;
}

class VwireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loaded(module()));
    ASSERT_NE(module().get_stats, nullptr);
  }

  void TearDown() override {
    for (auto& e : ends_) {
      e->detach();
    }
    for (const auto& w : wires_) {
      shm_unlink(("/iopkt-vwire-" + w).c_str());  // only after a failed test
    }
  }

  std::string wire(const char* tag) {
    std::string w = std::string("t-") + tag + "-" + std::to_string(getpid());
    wires_.push_back(w);
    return w;
  }

  // Attaches and fails the test when the module refuses.
  End* attach(const std::string& options, uint32_t cap = 65536) {
    FakeIf* fi = nullptr;
    std::string err;
    int rc = host_.attach(options, &fi, &err);
    EXPECT_EQ(rc, 0) << options << ": " << err;
    if (rc != 0 || fi == nullptr) {
      return nullptr;
    }
    ends_.push_back(std::make_unique<End>(fi, cap));
    return ends_.back().get();
  }

  // Two ends, both drained once so that neither rx_fd is readable.
  std::pair<End*, End*> pair(const std::string& w, const std::string& a_opts = "",
                             const std::string& b_opts = "") {
    End* a = attach("wire=" + w + a_opts);
    End* b = attach("wire=" + w + b_opts);
    if (a != nullptr && b != nullptr) {
      a->poll_once();
      b->poll_once();
    }
    return {a, b};
  }

  FakeHost host_{module().driver};
  std::vector<std::unique_ptr<End>> ends_;
  std::vector<std::string> wires_;
};

TEST_F(VwireTest, ExportsTheEntryWithTheAbiVersion) {
  const iopkt_driver* d = module().driver;
  EXPECT_EQ(d->abi_version, IOPKT_DRIVER_ABI_VERSION);
  EXPECT_STREQ(d->name, "vwire");
  EXPECT_NE(d->description, nullptr);
  EXPECT_NE(d->attach, nullptr);
  iopkt_vwire_stats s{};
  uint64_t not_a_softc[8] = {};  // as large as the magic it is checked for
  EXPECT_EQ(module().get_stats(not_a_softc, &s), -EINVAL);
}

TEST_F(VwireTest, RefusesUnknownMissingAndMalformedOptions) {
  std::string w = wire("opts");
  struct Case {
    std::string options;
    const char* named;  // the message must name this
  } cases[] = {
      {"", "wire="},
      {"delay=5", "wire="},
      {"wire=" + w + ",bogus=1", "bogus"},
      {"wire=" + w + ",loss=abc", "loss="},
      {"wire=" + w + ",loss=101", "loss="},
      {"wire=" + w + ",loss=-1", "loss="},
      {"wire=" + w + ",loss", "loss"},
      {"wire=" + w + ",dup=1%%", "dup="},
      {"wire=" + w + ",delay=soon", "delay="},
      {"wire=" + w + ",jitter=70000", "jitter="},
      {"wire=" + w + ",rate=5X", "rate="},
      {"wire=" + w + ",rate=10", "rate="},
      {"wire=" + w + ",qlen=100", "qlen="},
      {"wire=" + w + ",qlen=16", "qlen="},
      {"wire=" + w + ",seed=-3", "seed="},
      {"wire=bad/name", "wire="},
      {"wire=" + std::string(65, 'x'), "wire="},
  };
  for (const auto& c : cases) {
    std::string err;
    FakeIf* fi = nullptr;
    EXPECT_EQ(host_.attach(c.options, &fi, &err), -EINVAL) << c.options;
    EXPECT_EQ(fi, nullptr) << c.options;
    EXPECT_NE(err.find(c.named), std::string::npos) << c.options << " -> " << err;
  }
  EXPECT_FALSE(shm_exists(w));
  // The accepted forms of the same options.
  End* e = attach("wire=" + w +
                  ",delay=0.5,jitter=0.1ms,loss=0.5%,dup=1,reorder=0,rate=1.5M,seed=9,qlen=128");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->stats().qlen, 128u);
}

TEST_F(VwireTest, DescribesAnEthernetInterface) {
  std::string w = wire("desc");
  auto [a, b] = pair(w);
  ASSERT_TRUE(a && b);
  for (End* e : {a, b}) {
    const iopkt_if_desc& d = e->fake()->desc;
    EXPECT_EQ(d.struct_size, sizeof(iopkt_if_desc));
    EXPECT_EQ(e->fake()->prefix, "vw");
    EXPECT_EQ(d.unit, -1);
    EXPECT_EQ(d.link_type, uint32_t{IOPKT_LINK_ETHER});
    EXPECT_EQ(d.mtu, 1500u);
    EXPECT_EQ(d.max_mtu, 65535u - 14);
    EXPECT_EQ(d.flags, IOPKT_IFF_BROADCAST | IOPKT_IFF_MULTICAST | IOPKT_IFF_SIMPLEX);
    EXPECT_EQ(d.n_rx_queues, 1u);
    EXPECT_GE(d.rx_fd[0], 0);
    EXPECT_EQ(d.mac[0] & 0x03, 0x02) << "locally administered unicast";
    EXPECT_EQ(e->fake()->ops->set_mtu(e->softc(), 9000), 0);
    EXPECT_EQ(e->fake()->ops->set_mtu(e->softc(), 65521), 0);
    EXPECT_EQ(e->fake()->ops->set_mtu(e->softc(), 65522), -EINVAL);
  }
  EXPECT_EQ(a->stats().side, 0u);
  EXPECT_EQ(b->stats().side, 1u);
  EXPECT_NE(0, memcmp(a->fake()->desc.mac, b->fake()->desc.mac, 6));
  // Deterministic: the same wire and side give the same address again.
  uint8_t mac_b[6];
  memcpy(mac_b, b->fake()->desc.mac, 6);
  b->detach();
  End* b2 = attach("wire=" + w);
  ASSERT_NE(b2, nullptr);
  EXPECT_EQ(0, memcmp(mac_b, b2->fake()->desc.mac, 6));
}

TEST_F(VwireTest, TwoEndsExchangeFramesBothWaysInOrderByteExact) {
  std::string w = wire("xchg");
  auto [a, b] = pair(w);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(readable(a->fd(), 50));
  EXPECT_FALSE(readable(b->fd(), 50));

  std::vector<std::vector<uint8_t>> out = {test_frame(0, 60), test_frame(1, 1514),
                                           test_frame(2, 9014), test_frame(3, 65535),
                                           test_frame(4, 2041)};
  EXPECT_EQ(a->send(out), 5);
  EXPECT_TRUE(readable(b->fd(), 2000));
  EXPECT_FALSE(readable(a->fd(), 0)) << "SIMPLEX: a sender does not hear itself";
  ASSERT_TRUE(pump({a, b}, b, 5, 2000));
  ASSERT_EQ(b->inbox.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(b->inbox[i].bytes, out[i]) << "frame " << i;
  }
  // Drained: nothing more, and the fd has gone quiet.
  EXPECT_EQ(b->poll_once(), 0);
  EXPECT_FALSE(readable(b->fd(), 20));

  std::vector<std::vector<uint8_t>> back = {test_frame(10, 100), test_frame(11, 1500)};
  EXPECT_EQ(b->send(back), 2);
  EXPECT_TRUE(readable(a->fd(), 2000));
  ASSERT_TRUE(pump({a, b}, a, 2, 2000));
  EXPECT_EQ(a->inbox[0].bytes, back[0]);
  EXPECT_EQ(a->inbox[1].bytes, back[1]);
  EXPECT_TRUE(b->inbox.size() == 5u);

  iopkt_vwire_stats sa = a->stats(), sb = b->stats();
  EXPECT_EQ(sa.tx_frames, 5u);
  EXPECT_EQ(sb.rx_frames, 5u);
  EXPECT_EQ(sb.rx_bytes, 60u + 1514 + 9014 + 65535 + 2041);
  EXPECT_EQ(sb.tx_frames, 2u);
  EXPECT_EQ(sa.rx_frames, 2u);
  EXPECT_EQ(sa.peer_attached, 1u);
}

TEST_F(VwireTest, RefusesEmptyAndOversizedFramesAndDropsWhatTheStackCannotHold) {
  std::string w = wire("len");
  End* a = attach("wire=" + w);
  End* b = attach("wire=" + w, 1600);  // the stack's buffers hold 1600 bytes
  ASSERT_TRUE(a && b);
  std::vector<uint8_t> huge(65536, 7);
  EXPECT_EQ(a->send({test_frame(0, 100), {}, huge, test_frame(1, 3000), test_frame(2, 1600)}), 5);
  ASSERT_TRUE(pump({a, b}, b, 2, 2000));
  EXPECT_EQ(seqs(b->inbox), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(a->stats().tx_bad_len, 2u);
  EXPECT_EQ(b->stats().rx_too_long, 1u);
}

TEST_F(VwireTest, ABatchOf1000FramesArrivesCompleteWithOneWakeUp) {
  std::string w = wire("batch");
  auto [a, b] = pair(w);
  ASSERT_TRUE(a && b);
  uint64_t bells_before = a->stats().tx_bells;
  std::vector<std::vector<uint8_t>> all;
  for (uint32_t i = 0; i < 1000; ++i) {
    all.push_back(test_frame(i, 60 + (i * 97) % 1455));
  }
  for (size_t i = 0; i < all.size(); i += 50) {
    std::vector<std::vector<uint8_t>> burst(all.begin() + i, all.begin() + i + 50);
    ASSERT_EQ(a->send(burst), 50);
  }
  // PERFORMANCE.md §4.1: the sleeping receiver is woken once, not per burst.
  EXPECT_EQ(a->stats().tx_bells - bells_before, 1u);
  ASSERT_TRUE(pump({a, b}, b, 1000, 5000)) << b->inbox.size();
  for (size_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(b->inbox[i].bytes, all[i]) << "frame " << i;
  }
  EXPECT_EQ(b->stats().rx_frames, 1000u);
  EXPECT_EQ(a->stats().tx_ring_full, 0u);
}

TEST_F(VwireTest, AFullRingTakesWhatFitsAndCountsTheRest) {
  std::string w = wire("full");
  auto [a, b] = pair(w, ",qlen=64");
  ASSERT_TRUE(a && b);
  std::vector<std::vector<uint8_t>> burst;
  for (uint32_t i = 0; i < 100; ++i) {
    burst.push_back(test_frame(i, 1500));  // one 2 KiB slot each
  }
  EXPECT_EQ(a->send(burst), 64);
  EXPECT_EQ(a->stats().tx_ring_full, 36u);
  ASSERT_TRUE(pump({a, b}, b, 64, 2000));
  EXPECT_EQ(test_frame_seq(b->inbox.back().bytes), 63u);
  // Room again once read; frames that straddle the ring's end wrap whole.
  std::vector<std::vector<uint8_t>> more = {test_frame(100, 5000), test_frame(101, 9000)};
  EXPECT_EQ(a->send(more), 2);
  ASSERT_TRUE(pump({a, b}, b, 66, 2000));
  EXPECT_EQ(b->inbox[64].bytes, more[0]);
  EXPECT_EQ(b->inbox[65].bytes, more[1]);
}

TEST_F(VwireTest, AShortBurstLeavesFramesAndKicksTheStack) {
  std::string w = wire("kick");
  auto [a, b] = pair(w);
  ASSERT_TRUE(a && b);
  std::vector<std::vector<uint8_t>> burst;
  for (uint32_t i = 0; i < 20; ++i) {
    burst.push_back(test_frame(i, 64));
  }
  ASSERT_EQ(a->send(burst), 20);
  ASSERT_TRUE(readable(b->fd(), 2000));
  int kicks = b->fake()->kicks.load();
  EXPECT_EQ(b->poll_once(8), 8);
  EXPECT_EQ(b->fake()->kicks.load(), kicks + 1) << "frames left behind, rx_fd may not signal";
  EXPECT_EQ(b->poll_once(64), 12);
  EXPECT_EQ(b->fake()->kicks.load(), kicks + 1);
}

TEST_F(VwireTest, AThirdEndIsRefusedUntilASideIsFree) {
  std::string w = wire("third");
  auto [a, b] = pair(w);
  ASSERT_TRUE(a && b);
  FakeIf* fi = nullptr;
  std::string err;
  EXPECT_EQ(host_.attach("wire=" + w, &fi, &err), -EBUSY);
  EXPECT_NE(err.find("already has two ends"), std::string::npos) << err;
  EXPECT_NE(err.find(w), std::string::npos) << err;
  EXPECT_EQ(fi, nullptr);
  a->detach();
  End* c = attach("wire=" + w);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->stats().side, 0u);
  c->poll_once();
  EXPECT_EQ(b->send({test_frame(5, 80)}), 1);
  ASSERT_TRUE(pump({b, c}, c, 1, 2000));
  EXPECT_EQ(test_frame_seq(c->inbox[0].bytes), 5u);
}

TEST_F(VwireTest, AQlenThatDiffersFromTheWiresIsRefused) {
  std::string w = wire("qlen");
  End* a = attach("wire=" + w + ",qlen=256");
  ASSERT_NE(a, nullptr);
  std::string err;
  EXPECT_EQ(host_.attach("wire=" + w + ",qlen=512", nullptr, &err), -EINVAL);
  EXPECT_NE(err.find("qlen="), std::string::npos) << err;
  End* b = attach("wire=" + w);  // takes the wire's
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->stats().qlen, 256u);
}

TEST_F(VwireTest, ARefusedIfAttachLeavesTheWireFree) {
  std::string w = wire("refused");
  host_.refuse_next = true;
  std::string err;
  EXPECT_LT(host_.attach("wire=" + w, nullptr, &err), 0);
  EXPECT_FALSE(shm_exists(w));
  auto [a, b] = pair(w);
  EXPECT_TRUE(a && b);
}

TEST_F(VwireTest, CarrierFollowsThePeer) {
  std::string w = wire("carrier");
  End* a = attach("wire=" + w);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->fake()->link.load(), 0);
  EXPECT_EQ(a->send({test_frame(0, 64)}), 1);
  EXPECT_EQ(a->stats().tx_no_peer, 1u) << "nobody at the other end";
  End* b = attach("wire=" + w);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->fake()->link.load(), 1);
  ASSERT_TRUE(readable(a->fd(), 2000)) << "the peer's arrival rings";
  a->poll_once();
  EXPECT_EQ(a->fake()->link.load(), 1);
  b->fake()->ops->quiesce(b->softc());  // as from io-pkt's SIGSEGV handler
  ASSERT_TRUE(readable(a->fd(), 2000));
  a->poll_once();
  EXPECT_EQ(a->fake()->link.load(), 0);
  b->detach();  // after quiesce, still allowed
  EXPECT_TRUE(shm_exists(w));
  a->detach();
  EXPECT_FALSE(shm_exists(w));
}

TEST_F(VwireTest, DetachingBothEndsUnlinksTheSharedMemory) {
  std::string w = wire("unlink");
  EXPECT_FALSE(shm_exists(w));
  auto [a, b] = pair(w);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(shm_exists(w));
  b->detach();
  EXPECT_TRUE(shm_exists(w));
  a->detach();
  EXPECT_FALSE(shm_exists(w));
}

// Runs in a forked child: attaches with `options`, reports the side it got
// on `report`, echoes `echo` frames back, waits for `hold` to close, and
// exits 0 on success. With echo == 0 it waits to be killed. Never returns;
// bounded by alarm().
[[noreturn]] void child_end(const std::string& options, int report, int hold, int echo) {
  alarm(10);
  FakeHost host(module().driver);
  FakeIf* fi = nullptr;
  std::string err;
  if (host.attach(options, &fi, &err) != 0 || fi == nullptr) {
    _exit(2);
  }
  End e(fi);
  uint8_t side = static_cast<uint8_t>(e.stats().side);
  if (write(report, &side, 1) != 1) {
    _exit(3);
  }
  if (echo == 0) {
    pause();  // waits for the parent's SIGKILL (or the alarm)
    _exit(4);
  }
  int64_t deadline = now_ns() + int64_t{5} * 1000000000;
  size_t sent = 0;
  while (sent < static_cast<size_t>(echo) && now_ns() < deadline) {
    if (readable(e.fd(), 50)) {
      e.poll_once();
    }
    for (; sent < e.inbox.size(); ++sent) {
      if (e.send({e.inbox[sent].bytes}) != 1) {
        _exit(5);
      }
    }
  }
  // Let the parent read before our side goes away.
  readable(hold, 2000);
  e.detach();
  _exit(sent == static_cast<size_t>(echo) ? 0 : 6);
}

// Waits for a child with a deadline; kills it when it overruns.
int wait_child(pid_t pid, int timeout_ms) {
  int status = 0;
  for (int i = 0; i < timeout_ms / 10; ++i) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      return status;
    }
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

bool read_byte(int fd, uint8_t* b, int timeout_ms) {
  return readable(fd, timeout_ms) && read(fd, b, 1) == 1;
}

TEST_F(VwireTest, EndsInTwoProcessesExchangeFrames) {
  std::string w = wire("fork");
  End* a = attach("wire=" + w);
  ASSERT_NE(a, nullptr);
  int up[2], down[2];
  ASSERT_EQ(pipe(up), 0);
  ASSERT_EQ(pipe(down), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    child_end("wire=" + w, up[1], down[0], 10);
  }
  close(up[1]);
  close(down[0]);
  uint8_t side = 0xff;
  ASSERT_TRUE(read_byte(up[0], &side, 5000));
  EXPECT_EQ(side, 1u);
  ASSERT_TRUE(readable(a->fd(), 2000));  // the child's arrival
  a->poll_once();
  EXPECT_EQ(a->fake()->link.load(), 1);
  std::vector<std::vector<uint8_t>> out;
  for (uint32_t i = 0; i < 10; ++i) {
    out.push_back(test_frame(i, 64 + i * 300));
  }
  EXPECT_EQ(a->send(out), 10);
  EXPECT_TRUE(pump({a}, a, 10, 5000));
  close(up[0]);
  close(down[1]);
  EXPECT_EQ(wait_child(pid, 5000), 0);
  ASSERT_EQ(a->inbox.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(a->inbox[i].bytes, out[i]);
  }
  // The child detached: carrier down, and the wire is ours alone.
  for (int i = 0; i < 40 && a->fake()->link.load() != 0; ++i) {
    if (readable(a->fd(), 50)) {
      a->poll_once();
    }
  }
  EXPECT_EQ(a->fake()->link.load(), 0);
  EXPECT_TRUE(shm_exists(w));
  a->detach();
  EXPECT_FALSE(shm_exists(w));
}

// A sender in another process as fast as the ring allows while this one
// sleeps in poll() between bursts: a lost wake-up (the race between the
// consumer going to sleep and the producer publishing) stalls the transfer.
TEST_F(VwireTest, ABulkTransferBetweenProcessesLosesNoWakeUp) {
  constexpr uint32_t kFrames = 20000;
  std::string w = wire("bulk");
  End* a = attach("wire=" + w + ",qlen=64");
  ASSERT_NE(a, nullptr);
  int up[2];
  ASSERT_EQ(pipe(up), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(up[0]);
    alarm(20);
    FakeHost host(module().driver);
    FakeIf* fi = nullptr;
    std::string err;
    if (host.attach("wire=" + w, &fi, &err) != 0) {
      _exit(2);
    }
    End e(fi);
    uint8_t ok = 1;
    if (write(up[1], &ok, 1) != 1) {
      _exit(3);
    }
    int64_t deadline = now_ns() + int64_t{15} * 1000000000;
    uint32_t next = 0;
    while (next < kFrames && now_ns() < deadline) {
      std::vector<std::vector<uint8_t>> burst;
      for (uint32_t i = next; i < std::min(kFrames, next + 32); ++i) {
        burst.push_back(test_frame(i, 64 + i % 1400));
      }
      int taken = e.send(burst);
      next += static_cast<uint32_t>(taken);
      if (taken < static_cast<int>(burst.size())) {
        usleep(50);  // ring full: the reader is behind
      }
    }
    usleep(200000);  // let the parent finish reading before our side goes
    e.detach();
    _exit(next == kFrames ? 0 : 6);
  }
  close(up[1]);
  uint8_t b = 0;
  ASSERT_TRUE(read_byte(up[0], &b, 5000));
  close(up[0]);
  int64_t t0 = now_ns();
  bool all = pump({a}, a, kFrames, 15000);
  int64_t t1 = now_ns();
  EXPECT_EQ(wait_child(pid, 5000), 0);
  ASSERT_TRUE(all) << a->inbox.size() << " of " << kFrames;
  for (uint32_t i = 0; i < kFrames; ++i) {
    ASSERT_EQ(test_frame_seq(a->inbox[i].bytes), i);
    ASSERT_EQ(a->inbox[i].bytes.size(), 64 + i % 1400);
  }
  RecordProperty("frames_per_s", static_cast<int>(kFrames * 1e9 / static_cast<double>(t1 - t0)));
}

// Forks a child that attaches to `w` and is then killed with SIGKILL.
void kill_an_end(const std::string& w, uint8_t* side) {
  int up[2];
  ASSERT_EQ(pipe(up), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(up[0]);
    child_end("wire=" + w, up[1], -1, 0);
  }
  close(up[1]);
  bool ok = read_byte(up[0], side, 5000);
  close(up[0]);
  kill(pid, SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(wait_child(pid, 5000)));
  ASSERT_TRUE(ok);
}

TEST_F(VwireTest, AStaleObjectOfAKilledEndDoesNotBlockANewPair) {
  std::string w = wire("stale");
  uint8_t side = 0xff;
  kill_an_end(w, &side);
  EXPECT_EQ(side, 0u);
  ASSERT_TRUE(shm_exists(w)) << "the killed end could not clean up";
  auto [a, b] = pair(w);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->stats().side, 0u);
  EXPECT_EQ(b->stats().side, 1u);
  EXPECT_EQ(a->send({test_frame(1, 200)}), 1);
  ASSERT_TRUE(pump({a, b}, b, 1, 2000));
  a->detach();
  b->detach();
  EXPECT_FALSE(shm_exists(w));
}

TEST_F(VwireTest, TheSideOfAKilledPeerIsTakenOver) {
  std::string w = wire("takeover");
  End* a = attach("wire=" + w);
  ASSERT_NE(a, nullptr);
  uint8_t side = 0xff;
  kill_an_end(w, &side);
  EXPECT_EQ(side, 1u);
  // Frames sent to the dead end stay in the ring...
  EXPECT_EQ(a->send({test_frame(0, 100)}), 1);
  End* b = attach("wire=" + w);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->stats().side, 1u);
  b->poll_once();
  EXPECT_TRUE(b->inbox.empty()) << "...and are not handed to its successor";
  EXPECT_EQ(a->send({test_frame(7, 100)}), 1);
  ASSERT_TRUE(pump({a, b}, b, 1, 2000));
  EXPECT_EQ(test_frame_seq(b->inbox[0].bytes), 7u);
}

// Sends n numbered frames from a to b through a fresh wire with a's
// `options`; returns the sequence numbers b received, in order.
class VwireEmulationTest : public VwireTest {
 protected:
  std::vector<uint32_t> run(const std::string& tag, const std::string& a_opts, uint32_t n,
                            iopkt_vwire_stats* a_stats = nullptr) {
    std::string w = wire(tag.c_str()) + "-" + std::to_string(runs_++);
    auto [a, b] = pair(w, a_opts);
    if (a == nullptr || b == nullptr) {
      ADD_FAILURE() << "attach";
      return {};
    }
    for (uint32_t i = 0; i < n; i += 50) {
      std::vector<std::vector<uint8_t>> burst;
      for (uint32_t j = i; j < std::min(n, i + 50); ++j) {
        burst.push_back(test_frame(j, 100));
      }
      EXPECT_EQ(a->send(burst), static_cast<int>(burst.size()));
    }
    // Until every frame put on the wire has arrived and 50 ms pass quietly
    // (longer than the 10 ms a reordered frame may be held).
    for (int i = 0; i < 100; ++i) {
      size_t before = b->inbox.size();
      pump({a, b}, b, SIZE_MAX, 50);
      if (b->inbox.size() == before && before == a->stats().tx_frames) {
        break;
      }
    }
    if (a_stats != nullptr) {
      *a_stats = a->stats();
    }
    std::vector<uint32_t> got = seqs(b->inbox);
    a->detach();
    b->detach();
    return got;
  }
  int runs_ = 0;
};

TEST_F(VwireEmulationTest, LossDropsAboutHalfAndRepeatsForTheSameSeed) {
  iopkt_vwire_stats s{};
  std::vector<uint32_t> first = run("loss", ",loss=50,seed=7", 1000, &s);
  EXPECT_GT(first.size(), 400u);
  EXPECT_LT(first.size(), 600u);
  EXPECT_EQ(s.tx_lost + first.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(first.begin(), first.end()));
  EXPECT_EQ(run("loss", ",loss=50,seed=7", 1000), first);
  EXPECT_NE(run("loss", ",loss=50,seed=8", 1000), first);
  EXPECT_EQ(run("loss", ",loss=0.5%", 1000).size() > 980u, true);
}

TEST_F(VwireEmulationTest, DupDuplicatesFrames) {
  iopkt_vwire_stats s{};
  std::vector<uint32_t> got = run("dup", ",dup=100", 10, &s);
  std::vector<uint32_t> want;
  for (uint32_t i = 0; i < 10; ++i) {
    want.insert(want.end(), {i, i});
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(s.tx_duplicated, 10u);
  got = run("dup", ",dup=30,seed=3,qlen=2048", 1000, &s);
  EXPECT_GT(s.tx_duplicated, 200u);
  EXPECT_LT(s.tx_duplicated, 400u);
  EXPECT_EQ(got.size(), 1000u + s.tx_duplicated);
}

TEST_F(VwireEmulationTest, ReorderSendsAFrameAfterTheNextOne) {
  iopkt_vwire_stats s{};
  int64_t t0 = now_ns();
  std::vector<uint32_t> got = run("reorder", ",reorder=100", 5, &s);
  // 0 waits for 1, 2 for 3; 4 has no successor and leaves after 10 ms.
  EXPECT_EQ(got, (std::vector<uint32_t>{1, 0, 3, 2, 4}));
  EXPECT_EQ(s.tx_reordered, 2u);
  EXPECT_GE(now_ns() - t0, 10 * 1000000);
  got = run("reorder", ",reorder=25,seed=5", 1000, &s);
  EXPECT_EQ(got.size(), 1000u);
  EXPECT_FALSE(std::is_sorted(got.begin(), got.end()));
  EXPECT_GT(s.tx_reordered, 100u);
  EXPECT_LT(s.tx_reordered, 300u);
  std::sort(got.begin(), got.end());
  for (uint32_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], i);
  }
}

TEST_F(VwireTest, DelayHoldsFramesBack) {
  std::string w = wire("delay");
  auto [a, b] = pair(w, ",delay=20");
  ASSERT_TRUE(a && b);
  int64_t t0 = now_ns();
  EXPECT_EQ(a->send({test_frame(0, 100), test_frame(1, 100)}), 2);
  EXPECT_FALSE(readable(b->fd(), 10)) << "nothing before the delay";
  ASSERT_TRUE(pump({a, b}, b, 2, 2000));
  for (const Arrival& x : b->inbox) {
    EXPECT_GE(x.at_ns - t0, 20 * 1000000);
    EXPECT_LT(x.at_ns - t0, 1000 * 1000000);
  }
  EXPECT_EQ(seqs(b->inbox), (std::vector<uint32_t>{0, 1}));
  // The other direction is not delayed: the frame is in the ring and the
  // doorbell rung when tx_burst returns.
  EXPECT_EQ(b->send({test_frame(9, 100)}), 1);
  EXPECT_TRUE(readable(a->fd(), 0));
  ASSERT_TRUE(pump({a, b}, a, 1, 2000));
}

TEST_F(VwireTest, JitterDelaysWithoutReordering) {
  std::string w = wire("jitter");
  auto [a, b] = pair(w, ",delay=6,jitter=4");
  ASSERT_TRUE(a && b);
  int64_t t0 = now_ns();
  std::vector<std::vector<uint8_t>> burst;
  for (uint32_t i = 0; i < 50; ++i) {
    burst.push_back(test_frame(i, 100));
  }
  EXPECT_EQ(a->send(burst), 50);
  ASSERT_TRUE(pump({a, b}, b, 50, 3000));
  std::vector<uint32_t> got = seqs(b->inbox);
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
  EXPECT_GE(b->inbox.front().at_ns - t0, 2 * 1000000);
}

TEST_F(VwireTest, RateBoundsTheBacklogAndCountsDrops) {
  std::string w = wire("ratebl");
  auto [a, b] = pair(w, ",rate=1M");
  ASSERT_TRUE(a && b);
  // 1000 bytes at 1 Mbit/s: 8 ms each. Frame k waits behind (k - 1) * 8 ms;
  // beyond 100 ms (k >= 14) the queue drops.
  std::vector<std::vector<uint8_t>> burst;
  for (uint32_t i = 0; i < 20; ++i) {
    burst.push_back(test_frame(i, 1000));
  }
  int64_t t0 = now_ns();
  EXPECT_EQ(a->send(burst), 20);
  EXPECT_EQ(a->stats().tx_queue_full, 7u);
  ASSERT_TRUE(pump({a, b}, b, 13, 3000));
  EXPECT_GE(b->inbox.back().at_ns - t0, 13 * 8 * 1000000 - 1000000);
}

TEST_F(VwireTest, RateLimitsThroughput) {
  std::string w = wire("rate");
  auto [a, b] = pair(w, ",rate=1M");
  ASSERT_TRUE(a && b);
  // 100 KB at 1 Mbit/s is 0.8 s; sent 10 KB at a time to stay under the
  // queue's 100 ms bound.
  int64_t t0 = now_ns();
  for (uint32_t round = 0; round < 10; ++round) {
    std::vector<std::vector<uint8_t>> burst;
    for (uint32_t i = 0; i < 10; ++i) {
      burst.push_back(test_frame(round * 10 + i, 1000));
    }
    ASSERT_EQ(a->send(burst), 10);
    ASSERT_TRUE(pump({a, b}, b, (round + 1) * 10, 2000)) << "round " << round;
  }
  double secs = static_cast<double>(now_ns() - t0) / 1e9;
  EXPECT_GE(secs, 0.75);
  EXPECT_LT(secs, 3.0);
  EXPECT_EQ(a->stats().tx_queue_full, 0u);
  std::vector<uint32_t> got = seqs(b->inbox);
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
}

}  // namespace
