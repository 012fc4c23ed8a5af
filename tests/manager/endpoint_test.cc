// tests/manager/endpoint_test.cc — the socket endpoint ${prefix}/dev/socket:
// creation, a live stack refused, a killed stack's file replaced, removal
// only of our own inode.
#include "manager/endpoint.hh"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

namespace iopkt {
namespace {

int connect_to(const std::string& path) {
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int err = errno;
    close(s);
    errno = err;
    return -1;
  }
  return s;
}

class EndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/iopkt-ep-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    prefix_ = tmpl;
    path_ = prefix_ + "/dev/socket";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir((prefix_ + "/dev").c_str());
    rmdir(prefix_.c_str());
  }
  std::string prefix_;
  std::string path_;
};

TEST_F(EndpointTest, CreatesAWorldAccessibleSeqpacketListener) {
  auto ep = Endpoint::create(prefix_, 16);
  ASSERT_TRUE(ep) << ep.error();
  EXPECT_EQ(ep->path(), path_);
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  struct stat dir_st {};
  ASSERT_EQ(stat((prefix_ + "/dev").c_str(), &dir_st), 0);
  EXPECT_EQ(
      dir_st.st_mode & 0777, 0755u & ~[] {
        mode_t m = umask(0);
        umask(m);
        return m;
      }());
  int type = 0;
  socklen_t len = sizeof type;
  ASSERT_EQ(getsockopt(ep->fd(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
  EXPECT_EQ(type, SOCK_SEQPACKET);
  EXPECT_NE(fcntl(ep->fd(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(ep->fd(), F_GETFD) & FD_CLOEXEC, 0);
  // A client connects and is accepted.
  int c = connect_to(path_);
  ASSERT_GE(c, 0) << strerror(errno);
  pollfd p{ep->fd(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 2000), 1);
  int a = accept4(ep->fd(), nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(a, 0);
  close(a);
  close(c);
  ep->remove();
  EXPECT_NE(access(path_.c_str(), F_OK), 0);
  EXPECT_EQ(ep->fd(), -1);
}

TEST_F(EndpointTest, PrefixTrailingSlashAndPathFor) {
  EXPECT_EQ(Endpoint::path_for("/alt/"), "/alt/dev/socket");
  EXPECT_EQ(Endpoint::path_for(""), "/dev/socket");
  auto ep = Endpoint::create(prefix_ + "/", 4);
  ASSERT_TRUE(ep) << ep.error();
  EXPECT_EQ(ep->path(), path_);
}

TEST_F(EndpointTest, LiveEndpointIsRefused) {
  auto first = Endpoint::create(prefix_, 4);
  ASSERT_TRUE(first) << first.error();
  auto second = Endpoint::create(prefix_, 4);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), "an io-pkt stack already serves " + path_);
  // The refusal did not disturb the first.
  int c = connect_to(path_);
  EXPECT_GE(c, 0);
  close(c);
}

// A stack whose backlog is full still counts as alive (EAGAIN).
TEST_F(EndpointTest, LiveEndpointWithFullBacklogIsRefused) {
  auto first = Endpoint::create(prefix_, 0);
  ASSERT_TRUE(first) << first.error();
  int fds[64];
  int n = 0;
  for (; n < 64; ++n) {
    fds[n] = connect_to(path_);
    if (fds[n] < 0) {
      break;
    }
  }
  EXPECT_LT(n, 64) << "the backlog never filled";
  auto second = Endpoint::create(prefix_, 4);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), "an io-pkt stack already serves " + path_);
  for (int i = 0; i < n; ++i) {
    close(fds[i]);
  }
}

TEST_F(EndpointTest, StaleEndpointOfAKilledStackIsReplaced) {
  int ready[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  pid_t child = fork();
  if (child == 0) {
    alarm(20);
    auto ep = Endpoint::create(prefix_, 4);
    char c = ep ? 'Y' : 'N';
    (void)!write(ready[1], &c, 1);
    for (;;) {
      pause();
    }
  }
  close(ready[1]);
  pollfd p{ready[0], POLLIN, 0};
  char c = 0;
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  EXPECT_EQ(c, 'Y');
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);  // left behind
  EXPECT_TRUE(S_ISSOCK(st.st_mode));

  auto ep = Endpoint::create(prefix_, 4);
  ASSERT_TRUE(ep) << ep.error();
  int c2 = connect_to(path_);
  EXPECT_GE(c2, 0);
  close(c2);
}

TEST_F(EndpointTest, NonSocketFileIsRefusedByName) {
  ASSERT_EQ(mkdir((prefix_ + "/dev").c_str(), 0755), 0);
  { std::ofstream(path_) << "not a socket"; }
  auto ep = Endpoint::create(prefix_, 4);
  ASSERT_FALSE(ep);
  EXPECT_NE(ep.error().find(path_ + " exists and is not a socket"), std::string::npos)
      << ep.error();
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));  // untouched
}

TEST_F(EndpointTest, TooLongPathIsRefusedClearly) {
  std::string prefix = prefix_ + "/" + std::string(120, 'p');
  auto ep = Endpoint::create(prefix, 4);
  ASSERT_FALSE(ep);
  EXPECT_NE(ep.error().find("is too long"), std::string::npos) << ep.error();
  EXPECT_NE(access(prefix.c_str(), F_OK), 0);  // nothing created
}

TEST_F(EndpointTest, RemoveLeavesAReplacementAlone) {
  auto first = Endpoint::create(prefix_, 4);
  ASSERT_TRUE(first) << first.error();
  // Someone removed our file and another stack took the path.
  ASSERT_EQ(unlink(path_.c_str()), 0);
  auto second = Endpoint::create(prefix_, 4);
  ASSERT_TRUE(second) << second.error();
  first->remove();
  EXPECT_EQ(access(path_.c_str(), F_OK), 0);
  int c = connect_to(path_);
  EXPECT_GE(c, 0);  // still the second's
  close(c);
  second->remove();
  EXPECT_NE(access(path_.c_str(), F_OK), 0);
}

TEST_F(EndpointTest, DestructorRemovesAndMoveTransfers) {
  {
    auto ep = Endpoint::create(prefix_, 4);
    ASSERT_TRUE(ep) << ep.error();
    Endpoint moved = std::move(*ep);
    EXPECT_EQ(ep->fd(), -1);
    ep->remove();  // the moved-from one owns nothing
    EXPECT_EQ(access(path_.c_str(), F_OK), 0);
  }
  EXPECT_NE(access(path_.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace iopkt
