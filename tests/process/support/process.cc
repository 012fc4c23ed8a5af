// process/support/process.cc — see process.hh.
#include "process.hh"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace iopkt::test {

namespace {

using Clock = std::chrono::steady_clock;

void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000L * 1000L};
  nanosleep(&ts, nullptr);
}

std::vector<std::string> make_environment(const EnvChanges& changes) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    env.emplace_back(*e);
  }
  for (const std::string& c : changes) {
    size_t eq = c.find('=');
    std::string name = c.substr(0, eq);
    std::erase_if(
        env, [&](const std::string& v) { return v.compare(0, name.size() + 1, name + "=") == 0; });
    if (eq != std::string::npos) {
      env.push_back(c);
    }
  }
  return env;
}

}  // namespace

std::string bin_dir() { return IOPKT_TEST_BIN_DIR; }
std::string module_dir() { return IOPKT_TEST_MODULE_DIR; }
std::string extra_module_dir() { return IOPKT_TEST_EXTRA_MODULE_DIR; }
std::string io_pkt_path(int variant) {
  return bin_dir() + (variant == 6 ? "/io-pkt-v6-hc" : "/io-pkt-v4-hc");
}

bool file_exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/iopkt-pt-XXXXXX";
  char* p = mkdtemp(tmpl);
  if (p == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  path_ = p;
}

TempDir::~TempDir() {
  if (!path_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

std::string RunResult::describe() const {
  std::ostringstream s;
  if (timed_out) {
    s << "timed out";
  } else if (signal != 0) {
    s << "killed by signal " << signal;
  } else {
    s << "exit " << exit_code;
  }
  s << "\n--- stdout ---\n" << out << "--- stderr ---\n" << err;
  return s.str();
}

pid_t spawn(const std::vector<std::string>& argv, const EnvChanges& env_changes,
            const std::string& out_path, const std::string& err_path) {
  std::vector<std::string> env = make_environment(env_changes);
  std::vector<char*> cargv;
  for (const auto& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (const auto& e : env) {
    cenv.push_back(const_cast<char*>(e.c_str()));
  }
  cenv.push_back(nullptr);
  pid_t pid = fork();
  if (pid != 0) {
    return pid;
  }
  // Child: only async-signal-safe calls from here on.
  int in = open("/dev/null", O_RDONLY);
  int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (in < 0 || out < 0 || err < 0) {
    _exit(126);
  }
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  // The test holds many descriptors (sockets, pipes); the program under
  // test must not inherit them.
  close_range(3, ~0U, 0);
  // A test that crashes a stack on purpose wants no core file.
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  // The test may have blocked signals; the program must start clean.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(cargv[0], cargv.data(), cenv.data());
  _exit(127);
}

std::optional<int> wait_child(pid_t pid, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      return status;
    }
    if (r < 0 && errno != EINTR) {
      return std::nullopt;
    }
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    sleep_ms(2);
  }
}

RunResult run_program(const std::vector<std::string>& argv, const EnvChanges& env,
                      const std::string& scratch, Millis timeout) {
  static int counter = 0;
  ++counter;
  std::string out_path = scratch + "/out." + std::to_string(counter);
  std::string err_path = scratch + "/err." + std::to_string(counter);
  RunResult r;
  pid_t pid = spawn(argv, env, out_path, err_path);
  if (pid < 0) {
    r.err = std::string("fork: ") + std::strerror(errno);
    return r;
  }
  auto status = wait_child(pid, timeout);
  if (!status) {
    kill(pid, SIGKILL);
    r.timed_out = true;
    status = wait_child(pid, Millis(5000));
  }
  if (status) {
    if (WIFEXITED(*status)) {
      r.exit_code = WEXITSTATUS(*status);
    } else if (WIFSIGNALED(*status)) {
      r.signal = WTERMSIG(*status);
    }
  }
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return r;
}

bool process_alive(pid_t pid) {
  if (pid <= 0) {
    return false;
  }
  if (kill(pid, 0) != 0 && errno == ESRCH) {
    return false;
  }
  // A zombie (exited, not yet reaped by its parent) is gone for our purpose.
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) {
    return false;
  }
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

bool wait_gone(pid_t pid, Millis timeout) {
  return eventually([&] { return !process_alive(pid); }, timeout);
}

void kill_io_pkt(pid_t pid, Millis grace) {
  if (!process_alive(pid)) {
    return;
  }
  std::string comm = read_file("/proc/" + std::to_string(pid) + "/comm");
  if (comm.rfind("io-pkt", 0) != 0) {
    return;
  }
  kill(pid, SIGTERM);
  if (!wait_gone(pid, grace)) {
    kill(pid, SIGKILL);
    wait_gone(pid, Millis(5000));
  }
}

// --- control protocol ------------------------------------------------------

std::string CtlReply::message() const {
  std::string s(body.begin(), body.end());
  size_t nul = s.find('\0');
  return nul == std::string::npos ? s : s.substr(0, nul);
}

CtlConn::CtlConn(const std::string& endpoint_path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (endpoint_path.size() >= sizeof sa.sun_path) {
    errno_ = ENAMETOOLONG;
    return;
  }
  std::memcpy(sa.sun_path, endpoint_path.c_str(), endpoint_path.size() + 1);
  fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    errno_ = errno;
    return;
  }
  if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    errno_ = errno;
    close(fd_);
    fd_ = -1;
  }
}

CtlConn::~CtlConn() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

CtlConn::CtlConn(CtlConn&& other) noexcept
    : fd_(other.fd_), errno_(other.errno_), seq_(other.seq_) {
  other.fd_ = -1;
}

bool CtlConn::send_raw(std::span<const uint8_t> bytes, std::span<const int> fds) {
  if (fd_ < 0) {
    return false;
  }
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> cbuf;
  if (!fds.empty()) {
    cbuf.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    msg.msg_control = cbuf.data();
    msg.msg_controllen = cbuf.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
  return n == static_cast<ssize_t>(bytes.size());
}

bool CtlConn::send_request(uint16_t type, std::span<const uint8_t> body, uint32_t seq,
                           std::span<const int> fds) {
  std::vector<uint8_t> msg(sizeof(iopkt_ctl_hdr) + body.size());
  iopkt_ctl_hdr h{};
  h.magic = IOPKT_CTL_MAGIC;
  h.version = IOPKT_CTL_VERSION;
  h.type = type;
  h.seq = seq;
  h.len = static_cast<uint32_t>(body.size());
  std::memcpy(msg.data(), &h, sizeof h);
  if (!body.empty()) {
    std::memcpy(msg.data() + sizeof h, body.data(), body.size());
  }
  return send_raw(msg, fds);
}

std::optional<CtlReply> CtlConn::recv_reply(Millis timeout) {
  if (fd_ < 0) {
    return std::nullopt;
  }
  pollfd p{fd_, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, static_cast<int>(timeout.count()));
  } while (r < 0 && errno == EINTR);
  if (r <= 0) {
    return std::nullopt;
  }
  std::vector<uint8_t> buf(IOPKT_CTL_MAX_MSG + 1);
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < static_cast<ssize_t>(sizeof(iopkt_ctl_hdr))) {
    return std::nullopt;
  }
  CtlReply rep;
  std::memcpy(&rep.hdr, buf.data(), sizeof rep.hdr);
  rep.body.assign(buf.begin() + sizeof rep.hdr, buf.begin() + n);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < count; ++k) {
        int f;
        std::memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof f);
        if (rep.fd < 0) {
          rep.fd = f;
        } else {
          close(f);
        }
      }
    }
  }
  return rep;
}

std::optional<CtlReply> CtlConn::request(uint16_t type, std::span<const uint8_t> body,
                                         std::span<const int> fds, Millis timeout) {
  uint32_t seq = seq_++;
  if (!send_request(type, body, seq, fds)) {
    return std::nullopt;
  }
  auto rep = recv_reply(timeout);
  if (rep && (rep->hdr.seq != seq || rep->hdr.type != type)) {
    ADD_FAILURE() << "reply to request type " << type << " seq " << seq << " came with type "
                  << rep->hdr.type << " seq " << rep->hdr.seq;
  }
  return rep;
}

std::string endpoint_of(const std::string& prefix) { return prefix + "/dev/socket"; }

std::optional<iopkt_ctl_hello_reply> hello(const std::string& prefix) {
  CtlConn c(endpoint_of(prefix));
  auto rep = c.request(IOPKT_CTL_HELLO, {}, {}, Millis(2000));
  if (!rep || rep->hdr.error != 0 || rep->body.size() != sizeof(iopkt_ctl_hello_reply)) {
    return std::nullopt;
  }
  iopkt_ctl_hello_reply h;
  std::memcpy(&h, rep->body.data(), sizeof h);
  return h;
}

std::optional<std::string> sysctl_get(const std::string& prefix, const std::string& name) {
  CtlConn c(endpoint_of(prefix));
  iopkt_ctl_sysctl req{};
  std::snprintf(req.name, sizeof req.name, "%s", name.c_str());
  auto rep = c.request(IOPKT_CTL_SYSCTL_GET, bytes_of(req));
  if (!rep || rep->hdr.error != 0 || rep->body.size() != sizeof(iopkt_ctl_sysctl)) {
    return std::nullopt;
  }
  iopkt_ctl_sysctl out;
  std::memcpy(&out, rep->body.data(), sizeof out);
  out.value[sizeof out.value - 1] = '\0';
  return std::string(out.value);
}

std::optional<std::vector<iopkt_ctl_if_info>> if_list(const std::string& prefix) {
  CtlConn c(endpoint_of(prefix));
  std::vector<iopkt_ctl_if_info> all;
  iopkt_ctl_list req{};
  for (int page = 0; page < 64; ++page) {
    auto rep = c.request(IOPKT_CTL_IF_LIST, bytes_of(req));
    constexpr size_t kHead = offsetof(iopkt_ctl_if_list_reply, ifs);
    if (!rep || rep->hdr.error != 0 || rep->body.size() < kHead) {
      return std::nullopt;
    }
    uint32_t count, next;
    std::memcpy(&count, rep->body.data(), 4);
    std::memcpy(&next, rep->body.data() + 4, 4);
    if (count > IOPKT_CTL_IF_LIST_MAX ||
        rep->body.size() != kHead + count * sizeof(iopkt_ctl_if_info)) {
      ADD_FAILURE() << "IF_LIST reply of " << rep->body.size() << " bytes for " << count
                    << " interfaces";
      return std::nullopt;
    }
    for (uint32_t i = 0; i < count; ++i) {
      iopkt_ctl_if_info info;
      std::memcpy(&info, rep->body.data() + kHead + i * sizeof info, sizeof info);
      all.push_back(info);
    }
    if (next == 0) {
      return all;
    }
    req.cursor = next;
  }
  ADD_FAILURE() << "IF_LIST never ended";
  return std::nullopt;
}

const iopkt_ctl_if_info* find_if(const std::vector<iopkt_ctl_if_info>& ifs, std::string_view name) {
  for (const auto& i : ifs) {
    if (std::string_view(i.name, strnlen(i.name, sizeof i.name)) == name) {
      return &i;
    }
  }
  return nullptr;
}

std::optional<std::vector<iopkt_ctl_ifaddr>> ifaddr_list(const std::string& prefix) {
  CtlConn c(endpoint_of(prefix));
  std::vector<iopkt_ctl_ifaddr> all;
  iopkt_ctl_list req{};
  for (int page = 0; page < 64; ++page) {
    auto rep = c.request(IOPKT_CTL_IFADDR_LIST, bytes_of(req));
    constexpr size_t kHead = offsetof(iopkt_ctl_ifaddr_list_reply, addrs);
    if (!rep || rep->hdr.error != 0 || rep->body.size() < kHead) {
      return std::nullopt;
    }
    uint32_t count, next;
    std::memcpy(&count, rep->body.data(), 4);
    std::memcpy(&next, rep->body.data() + 4, 4);
    if (count > IOPKT_CTL_IFADDR_LIST_MAX ||
        rep->body.size() != kHead + count * sizeof(iopkt_ctl_ifaddr)) {
      return std::nullopt;
    }
    for (uint32_t i = 0; i < count; ++i) {
      iopkt_ctl_ifaddr a;
      std::memcpy(&a, rep->body.data() + kHead + i * sizeof a, sizeof a);
      all.push_back(a);
    }
    if (next == 0) {
      return all;
    }
    req.cursor = next;
  }
  return std::nullopt;
}

// --- ProcessTest -------------------------------------------------------------

void ProcessTest::TearDown() {
  for (const Started& s : started_) {
    if (s.child) {
      if (kill(s.pid, 0) != 0 || wait_child(s.pid, Millis(0))) {
        continue;  // reaped already, or exited and reaped now
      }
      kill(s.pid, SIGTERM);
      if (!wait_child(s.pid, Millis(5000))) {
        kill(s.pid, SIGKILL);
        wait_child(s.pid, Millis(5000));
      }
    } else {
      kill_io_pkt(s.pid);
    }
  }
  started_.clear();
  // Anything the registry still names (an instance started by a utility
  // or by a test that lost track of it).
  if (DIR* d = opendir(rundir().c_str())) {
    while (dirent* e = readdir(d)) {
      if (std::strncmp(e->d_name, "io-pkt.", 7) != 0) {
        continue;
      }
      std::string text = read_file(rundir() + "/" + e->d_name);
      int pid = std::atoi(text.c_str());
      if (pid > 0) {
        kill_io_pkt(pid);
      }
    }
    closedir(d);
  }
}

std::string ProcessTest::registry_path(int instance) const {
  return rundir() + "/io-pkt." + std::to_string(instance);
}

EnvChanges ProcessTest::env(const EnvChanges& extra) const {
  EnvChanges e = {"IOPKT_RUNDIR=" + rundir(), "IOPKT_MODULE_PATH=" + extra_module_dir()};
  e.insert(e.end(), extra.begin(), extra.end());
  return e;
}

void ProcessTest::remember(pid_t pid, bool child) { started_.push_back({pid, child}); }

void ProcessTest::forget(pid_t pid) {
  std::erase_if(started_, [&](const Started& s) { return s.pid == pid; });
}

IoPktRun ProcessTest::start_io_pkt(int variant, const std::vector<std::string>& args, int instance,
                                   Millis timeout) {
  std::vector<std::string> argv = {io_pkt_path(variant)};
  argv.insert(argv.end(), args.begin(), args.end());
  IoPktRun run;
  run.start = run_program(argv, env(), root(), timeout);
  if (run.start.ok()) {
    // "PID PREFIX\n", written by the daemon before it reports ready.
    std::string text = read_file(registry_path(instance));
    run.pid = std::atoi(text.c_str());
    if (run.pid > 0) {
      remember(run.pid, false);
    } else {
      ADD_FAILURE() << "io-pkt started but " << registry_path(instance) << " reads '" << text
                    << "'";
    }
  }
  return run;
}

IoPktRun ProcessTest::start_instance(int variant, int instance, const std::string& prefix,
                                     const std::vector<std::string>& more,
                                     const std::string& tcpip_extra) {
  std::vector<std::string> args = {
      "-i", std::to_string(instance), "-p", "tcpip",
      "prefix=" + prefix + (tcpip_extra.empty() ? "" : ",") + tcpip_extra};
  args.insert(args.end(), more.begin(), more.end());
  return start_io_pkt(variant, args, instance);
}

IoPktRun ProcessTest::start_foreground(int variant, const std::vector<std::string>& args,
                                       const std::string& prefix, const std::string& err_path,
                                       Millis timeout, const EnvChanges& extra_env) {
  std::vector<std::string> argv = {io_pkt_path(variant), "-f"};
  argv.insert(argv.end(), args.begin(), args.end());
  IoPktRun run;
  run.foreground = true;
  std::string out_path = err_path + ".out";
  pid_t pid = spawn(argv, env(extra_env), out_path, err_path);
  if (pid < 0) {
    run.start.err = "fork failed";
    return run;
  }
  remember(pid, true);
  std::optional<int> status;
  bool ready = eventually(
      [&] {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
          status = st;
          return true;
        }
        return hello(prefix).has_value();
      },
      timeout);
  run.start.err = read_file(err_path);
  if (status) {
    forget(pid);
    if (WIFEXITED(*status)) {
      run.start.exit_code = WEXITSTATUS(*status);
    } else if (WIFSIGNALED(*status)) {
      run.start.signal = WTERMSIG(*status);
    }
    return run;
  }
  if (!ready) {
    run.start.timed_out = true;
    return run;
  }
  run.start.exit_code = 0;
  run.pid = pid;
  return run;
}

std::optional<int> ProcessTest::terminate_child(pid_t pid, Millis timeout) {
  kill(pid, SIGTERM);
  auto status = wait_child(pid, timeout);
  if (!status) {
    kill(pid, SIGKILL);
    wait_child(pid, Millis(5000));
  }
  forget(pid);
  return status;
}

RunResult ProcessTest::run_util(const std::string& name, const std::vector<std::string>& args,
                                const EnvChanges& extra, Millis timeout) {
  std::vector<std::string> argv = {bin_dir() + "/" + name};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, env(extra), root(), timeout);
}

}  // namespace iopkt::test
