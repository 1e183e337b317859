#include "portmon/port_tracker.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"

namespace coracle::portmon {
namespace {

// When to look at a socket again after letting its bind()/listen() go on.
// The call completes as soon as the app's thread gets a CPU: usually within
// microseconds, on a busy machine a few milliseconds later. A check is one
// getsockopt(), so the first 10 ms are watched closely; after a second the
// next rescan decides instead.
std::chrono::microseconds next_check_after(std::chrono::microseconds waited) {
  using std::chrono::microseconds;
  if (waited < microseconds(50)) return microseconds(10);
  if (waited < microseconds(2000)) return microseconds(100);
  if (waited < microseconds(10000)) return microseconds(250);
  if (waited < microseconds(100000)) return microseconds(5000);
  return microseconds(50000);
}
constexpr auto kGiveUpAfter = std::chrono::seconds(1);
// Each pending check holds a duplicate of the app's socket. An app calling
// listen() in a loop where it fails must not exhaust the runner's fds: past
// this many the oldest is dropped (the rescan still sees what it becomes).
constexpr size_t kMaxPending = 256;

int sockopt(int fd, int option) {
  int value = -1;
  socklen_t len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, option, &value, &len) < 0) return -1;
  return value;
}

// Name and pid-namespace pid of a host pid; empty when it is gone.
void describe_owner(PortEvent& event, pid_t pid) {
  event.pid = pid;
  if (pid <= 0) return;
  std::string proc = "/proc/" + std::to_string(pid);
  try {
    event.process = read_file(proc + "/comm");
    while (!event.process.empty() && event.process.back() == '\n') event.process.pop_back();
    std::istringstream status(read_file(proc + "/status"));
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("NSpid:", 0) != 0) continue;
      std::istringstream ids(line.substr(6));
      for (pid_t id; ids >> id;) event.sandbox_pid = id;  // the innermost is last
    }
  } catch (const Error&) {
    // Exited already: the event keeps the pid alone.
  }
}

}  // namespace

PortTracker::PortTracker(const Options& options, SockDiag diag, std::optional<SocketCalls> calls,
                         std::optional<DestroyEvents> destroyed, Sink sink)
    : options_(options),
      diag_(std::move(diag)),
      calls_(std::move(calls)),
      destroyed_(std::move(destroyed)),
      sink_(std::move(sink)) {}

void PortTracker::start(EventLoop& loop) {
  if (calls_) {
    calls_token_ = loop.add(calls_->fd(), EPOLLIN, [this, &loop](uint32_t events) {
      // Hung up: every process under the filter is gone. The fd would stay
      // readable with nothing to receive.
      if (events & (EPOLLHUP | EPOLLERR)) {
        loop.remove(calls_token_, calls_->fd());
        return;
      }
      on_call();
    });
  }
  if (destroyed_) loop.add(destroyed_->fd(), EPOLLIN, [this](uint32_t) { on_destroyed(); });
  rescan();
}

Clock::time_point PortTracker::next_deadline() const {
  Clock::time_point next = next_rescan_;
  for (const auto& p : pending_) next = std::min(next, p.next_check);
  return next;
}

void PortTracker::on_timer() {
  check_pending(false);
  if (Clock::now() >= next_rescan_) rescan();
}

void PortTracker::on_call() {
  // Calls the app made before this one have returned by now: settle them
  // first, so events keep the app's order.
  check_pending(true);
  std::optional<SocketCall> call = calls_->next();
  if (!call || !call->socket) return;
  int fd = call->socket.get();
  int family = sockopt(fd, SO_DOMAIN), type = sockopt(fd, SO_TYPE);
  int protocol = sockopt(fd, SO_PROTOCOL);
  if (family != AF_INET && family != AF_INET6) return;  // unix, netlink, ...
  Pending p{std::move(*call), Proto::kTcp, family};
  // A TCP port opens at listen(), a UDP port at bind(); a TCP bind() alone
  // reaches nothing, and ping sockets are datagram sockets of another kind.
  if (p.call.kind == SocketCall::Kind::kListen && type == SOCK_STREAM) {
    p.proto = Proto::kTcp;
  } else if (p.call.kind == SocketCall::Kind::kBind && type == SOCK_DGRAM &&
             protocol == IPPROTO_UDP) {
    p.proto = Proto::kUdp;
  } else {
    return;
  }
  p.answered = p.next_check = Clock::now();
  if (pending_.size() >= kMaxPending) pending_.pop_front();
  pending_.push_back(std::move(p));
}

// The call has taken effect: a TCP socket listens, a UDP socket has a port.
bool PortTracker::call_done(const Pending& p) const {
  int fd = p.call.socket.get();
  return p.proto == Proto::kTcp ? sockopt(fd, SO_ACCEPTCONN) == 1 : local_port(fd) != 0;
}

void PortTracker::check_pending(bool all) {
  auto now = Clock::now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (!all && it->next_check > now) {
      ++it;
      continue;
    }
    if (call_done(*it) && confirm(*it)) {
      it = pending_.erase(it);  // our duplicate closes: the app's close() is final again
      continue;
    }
    auto waited = std::chrono::duration_cast<std::chrono::microseconds>(now - it->answered);
    if (waited >= kGiveUpAfter) {
      it = pending_.erase(it);  // the call failed, or is slow: the rescan decides
      continue;
    }
    it->next_check = now + next_check_after(waited);
    ++it;
  }
}

// The kernel marks a socket LISTEN a moment before it enters the table
// that sock_diag reads (inet_csk_listen_start), so a socket that says it
// listens may be missing from the dump for a moment: not yet confirmed.
bool PortTracker::confirm(const Pending& p) {
  struct stat st;
  if (fstat(p.call.socket.get(), &st) < 0) return true;  // nothing more to learn
  uint16_t number = local_port(p.call.socket.get());
  if (number == 0) return false;
  std::vector<OpenPort> ports;
  // In the sandbox's own network namespace the table is small: all of this
  // protocol's ports are read, so that an older socket already closed on
  // any port is reported closed before this one opens. In the host's (it
  // may have thousands), only this port's.
  diag_.dump(p.proto, p.family, ports, options_.host_net ? number : 0);
  const OpenPort* found = nullptr;
  std::set<uint64_t> present;
  for (const auto& port : ports) {
    present.insert(port.cookie);
    if (port.inode == st.st_ino) found = &port;
  }
  if (!found) return false;
  // The destroy broadcast comes late (a listener is freed after an RCU
  // grace period, and the broadcast from a work queue), so the close of an
  // older socket may still be on its way. This dump already shows it gone:
  // say so first, or an app that closes a listener and opens another would
  // read "open, open, closed, closed" (or, on one port, "open, open,
  // closed" while the new socket is open).
  std::vector<uint64_t> gone;
  for (const auto& [cookie, e] : open_)
    if (e.port.proto == p.proto && e.port.family == p.family &&
        (!options_.host_net || e.port.port == number) && !present.count(cookie))
      gone.push_back(cookie);
  for (uint64_t cookie : gone) report_close(cookie);
  if (!open_.count(found->cookie)) report_open(*found, p.call.pid);
  return true;
}

void PortTracker::on_destroyed() {
  std::vector<uint64_t> cookies;
  bool complete = destroyed_->read(cookies);
  for (uint64_t cookie : cookies)
    if (open_.count(cookie)) report_close(cookie);
  if (!complete) rescan();  // the kernel dropped some: compare with the truth
}

void PortTracker::rescan() {
  next_rescan_ = Clock::now() + options_.rescan_interval;
  std::vector<OpenPort> now = diag_.open_ports();
  std::map<uint64_t, pid_t> owners;
  bool owners_read = false;
  auto owner_of = [&](uint64_t inode) -> std::optional<pid_t> {
    if (!owners_read) owners = socket_owners(options_.init_pid);
    owners_read = true;
    auto it = owners.find(inode);
    if (it == owners.end()) return std::nullopt;
    return it->second;
  };
  std::set<uint64_t> seen;
  std::vector<std::pair<const OpenPort*, pid_t>> fresh;
  for (const auto& port : now) {
    if (open_.count(port.cookie)) {
      seen.insert(port.cookie);
      continue;
    }
    std::optional<pid_t> owner = owner_of(port.inode);
    // In the host's namespace, a socket of no sandbox process is not ours.
    if (options_.host_net && !owner) continue;
    seen.insert(port.cookie);
    fresh.emplace_back(&port, owner.value_or(0));
  }
  // What has gone closed before what is new opens: an app that swapped one
  // listener for another did it in that order.
  std::vector<uint64_t> gone;
  for (const auto& [cookie, event] : open_)
    if (!seen.count(cookie)) gone.push_back(cookie);
  for (uint64_t cookie : gone) report_close(cookie);
  for (const auto& [port, owner] : fresh) report_open(*port, owner);
}

void PortTracker::report_open(const OpenPort& port, pid_t pid) {
  PortEvent event;
  event.kind = PortEvent::Kind::kOpen;
  event.time = std::chrono::system_clock::now();
  event.port = port;
  describe_owner(event, pid);
  // Its twin of the other family, if open: both are named by family from
  // now on (the twin's close line too).
  for (auto& [cookie, other] : open_)
    if (other.port.port == port.port && other.port.proto == port.proto &&
        other.port.family != port.family)
      event.both_families = other.both_families = true;
  sink_(event);
  open_.emplace(port.cookie, std::move(event));
}

void PortTracker::report_close(uint64_t cookie) {
  auto it = open_.find(cookie);
  PortEvent event = std::move(it->second);
  open_.erase(it);
  event.kind = PortEvent::Kind::kClose;
  event.time = std::chrono::system_clock::now();
  sink_(event);
}

void PortTracker::close_all() {
  pending_.clear();
  while (!open_.empty()) report_close(open_.begin()->first);
}

}  // namespace coracle::portmon
