// tests/manager/typed_mem_test.cc — pkt_typed_mem: packet buffers mapped
// from a named file, reuse of freed blocks, exclusive use, error messages.
#include "manager/typed_mem.hh"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace iopkt {
namespace {

size_t page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

off_t file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

class TypedMem : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/iopkt-tm-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/pool";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_;
  std::string path_;
};

TEST_F(TypedMem, AllocMapsTheFileInWholeQuanta) {
  auto tm = TypedMemory::open(path_, 2 * page());
  ASSERT_TRUE(tm) << tm.error();
  TypedMemory& m = **tm;
  EXPECT_EQ(m.path(), path_);
  EXPECT_EQ(m.quantum(), 2 * page());
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(m.reserved(), 0u);

  void* a = m.alloc(100);  // one quantum
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(m.reserved(), 2 * page());
  EXPECT_EQ(file_size(path_), static_cast<off_t>(2 * page()));
  void* b = m.alloc(3 * page());  // rounded up to two quanta
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(m.reserved(), 6 * page());
  EXPECT_EQ(file_size(path_), static_cast<off_t>(6 * page()));

  // The memory is the file's (MAP_SHARED): what we write, the file holds.
  memset(a, 0xab, 2 * page());
  memcpy(b, "packet", 6);
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  unsigned char c = 0;
  ASSERT_EQ(pread(fd, &c, 1, static_cast<off_t>(2 * page() - 1)), 1);
  EXPECT_EQ(c, 0xab);
  char word[6];
  ASSERT_EQ(pread(fd, word, 6, static_cast<off_t>(2 * page())), 6);
  EXPECT_EQ(std::string(word, 6), "packet");
  close(fd);
}

TEST_F(TypedMem, FreedBlocksAreReusedAndTheFileNeverShrinks) {
  auto tm = TypedMemory::open(path_, 0);
  ASSERT_TRUE(tm) << tm.error();
  TypedMemory& m = **tm;
  EXPECT_EQ(m.quantum(), page());
  void* a = m.alloc(page());
  void* b = m.alloc(2 * page());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  size_t reserved = m.reserved();
  m.free(a, page());
  EXPECT_EQ(m.reserved(), reserved);
  EXPECT_EQ(file_size(path_), static_cast<off_t>(reserved));
  // Same size: the freed block comes back, nothing new is mapped.
  EXPECT_EQ(m.alloc(10), a);
  EXPECT_EQ(m.reserved(), reserved);
  // Different size: a new block.
  m.free(b, 2 * page());
  void* c = m.alloc(3 * page());
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c, b);
  EXPECT_EQ(m.reserved(), reserved + 3 * page());
  EXPECT_EQ(m.alloc(2 * page()), b);
}

TEST_F(TypedMem, BadFreesAreIgnored) {
  auto tm = TypedMemory::open(path_, 0);
  ASSERT_TRUE(tm) << tm.error();
  TypedMemory& m = **tm;
  void* a = m.alloc(page());
  ASSERT_NE(a, nullptr);
  int local = 0;
  m.free(&local, page());  // not ours
  m.free(a, 5 * page());   // wrong size
  m.free(nullptr, page());
  m.free(a, page());
  m.free(a, page());  // twice
  EXPECT_EQ(m.alloc(page()), a);
  void* next = m.alloc(page());
  EXPECT_NE(next, a);  // the double free did not queue it twice
}

TEST_F(TypedMem, DestructionRemovesACreatedFile) {
  {
    auto tm = TypedMemory::open(path_, 0);
    ASSERT_TRUE(tm) << tm.error();
    ASSERT_NE((*tm)->alloc(1), nullptr);
    EXPECT_EQ(access(path_.c_str(), F_OK), 0);
  }
  EXPECT_NE(access(path_.c_str(), F_OK), 0);
}

TEST_F(TypedMem, AnExistingFileIsEmptiedAndKept) {
  { std::ofstream(path_) << "old contents"; }
  {
    auto tm = TypedMemory::open(path_, 0);
    ASSERT_TRUE(tm) << tm.error();
    EXPECT_EQ(file_size(path_), 0);
    char* p = static_cast<char*>((*tm)->alloc(1));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p[0], 0);  // no stale bytes from the old file
  }
  EXPECT_EQ(file_size(path_), 0);
}

TEST_F(TypedMem, SecondUserIsRefused) {
  auto first = TypedMemory::open(path_, 0);
  ASSERT_TRUE(first) << first.error();
  auto second = TypedMemory::open(path_, 0);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), "pkt_typed_mem " + path_ + ": in use by another process");
}

TEST_F(TypedMem, ErrorsNameTheObjectAndTheErrno) {
  auto missing = TypedMemory::open(dir_ + "/no/such/dir", 0);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "pkt_typed_mem " + dir_ + "/no/such/dir: No such file or directory");
  auto directory = TypedMemory::open(dir_, 0);
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().find("pkt_typed_mem " + dir_), std::string::npos);
  EXPECT_FALSE(TypedMemory::open("", 0));
}

TEST(TypedMemShm, BareNameLivesInDevShm) {
  struct stat st {};
  if (stat("/dev/shm", &st) != 0 || !S_ISDIR(st.st_mode)) {
    GTEST_SKIP() << "no /dev/shm";
  }
  std::string name = "iopkt-test-" + std::to_string(getpid());
  std::string path = "/dev/shm/" + name;
  {
    auto tm = TypedMemory::open(name, 0);
    ASSERT_TRUE(tm) << tm.error();
    EXPECT_EQ((*tm)->path(), path);
    ASSERT_NE((*tm)->alloc(1), nullptr);
    EXPECT_EQ(file_size(path), static_cast<off_t>(page()));
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST_F(TypedMem, ConcurrentAllocAndFree) {
  auto tm = TypedMemory::open(path_, 0);
  ASSERT_TRUE(tm) << tm.error();
  TypedMemory& m = **tm;
  std::vector<std::vector<void*>> held(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, &held, t] {
      for (int i = 0; i < 50; ++i) {
        void* p = m.alloc(page());
        if (p == nullptr) {
          continue;
        }
        memset(p, t, 64);
        if (i % 2 == 0) {
          m.free(p, page());
        } else {
          held[t].push_back(p);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  std::set<void*> all;
  size_t count = 0;
  for (int t = 0; t < 4; ++t) {
    for (void* p : held[t]) {
      all.insert(p);
      ++count;
      EXPECT_EQ(*static_cast<unsigned char*>(p), t);  // nobody else's data
    }
  }
  EXPECT_EQ(count, 100u);
  EXPECT_EQ(all.size(), count);  // never handed out twice
  EXPECT_LE(m.reserved(), 104 * page());
}

}  // namespace
}  // namespace iopkt
