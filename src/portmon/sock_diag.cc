#include "portmon/sock_diag.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <sstream>
#include <thread>
#include <tuple>

#include "common/error.h"
#include "common/fs.h"
#include "common/quiet_thread.h"

namespace coracle::portmon {

const char* proto_name(Proto p) {
  return p == Proto::kTcp ? "tcp" : "udp";
}

bool OpenPort::operator<(const OpenPort& o) const {
  return std::tie(proto, port, family, address, inode) <
         std::tie(o.proto, o.port, o.family, o.address, o.inode);
}

bool OpenPort::operator==(const OpenPort& o) const {
  return std::tie(proto, port, family, address, inode) ==
         std::tie(o.proto, o.port, o.family, o.address, o.inode);
}

namespace {

UniqueFd diag_socket() {
  UniqueFd fd(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd) throw_errno("cannot open a NETLINK_SOCK_DIAG socket");
  return fd;
}

uint64_t cookie_of(const inet_diag_sockid& id) {
  return static_cast<uint64_t>(id.idiag_cookie[1]) << 32 | id.idiag_cookie[0];
}

}  // namespace

SockDiag::SockDiag() : fd_(diag_socket()) {}

SockDiag SockDiag::in_netns(int netns_fd) {
  // setns(CLONE_NEWNET) moves only the calling thread; the socket keeps
  // the namespace it was created in after the thread is gone.
  UniqueFd fd;
  int err = 0;
  std::thread t = start_quiet_thread([&] {
    if (setns(netns_fd, CLONE_NEWNET) < 0) {
      err = errno;
      return;
    }
    fd.reset(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!fd) err = errno;
  });
  t.join();
  if (err) throw_errno("cannot query the sandbox's network namespace", err);
  return SockDiag(std::move(fd));
}

void SockDiag::dump(Proto proto, int family, std::vector<OpenPort>& out, uint16_t port) {
  // The request, and optionally an inet_diag bytecode program that keeps
  // sockets whose source port is >= port and <= port. A jump to exactly
  // the end accepts; a jump 4 bytes past it rejects.
  struct {
    nlmsghdr nh;
    inet_diag_req_v2 req;
    nlattr attr;
    inet_diag_bc_op ops[4];
  } msg{};
  msg.nh.nlmsg_len = NLMSG_LENGTH(sizeof msg.req);
  if (port) {
    msg.ops[0] = {INET_DIAG_BC_S_GE, 8, 20};
    msg.ops[1] = {0, 0, port};
    msg.ops[2] = {INET_DIAG_BC_S_LE, 8, 12};
    msg.ops[3] = {0, 0, port};
    msg.attr.nla_type = INET_DIAG_REQ_BYTECODE;
    msg.attr.nla_len = static_cast<uint16_t>(NLA_HDRLEN + sizeof msg.ops);
    msg.nh.nlmsg_len = sizeof msg;
  }
  msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nh.nlmsg_seq = ++seq_;
  msg.req.sdiag_family = static_cast<uint8_t>(family);
  msg.req.sdiag_protocol = proto == Proto::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
  // TCP: listeners only. UDP has no listen state: every socket, and those
  // without a local port are dropped below.
  msg.req.idiag_states = proto == Proto::kTcp ? (1u << TCP_LISTEN) : ~0u;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_.get(), &msg, msg.nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof kernel) < 0)
    throw_errno("cannot ask the kernel for its sockets (sock_diag)");

  alignas(nlmsghdr) char buf[32768];
  for (;;) {
    ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot read the kernel's socket list (sock_diag)");
    }
    size_t left = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq_) continue;
      if (h->nlmsg_type == NLMSG_DONE) return;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        // A kernel without UDP diag (module not loaded) has nothing to say.
        if (e->error == -ENOENT && proto == Proto::kUdp) return;
        throw_errno("the kernel refused the socket list (sock_diag)", -e->error);
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
          h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
        continue;
      auto* d = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      OpenPort p;
      p.proto = proto;
      p.family = d->idiag_family;
      p.port = ntohs(d->id.idiag_sport);
      if (p.port == 0) continue;
      // A connected UDP socket is a client's (a DNS lookup, a forwarder's
      // own socket), not a port anyone can reach.
      if (proto == Proto::kUdp && d->id.idiag_dport != 0) continue;
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(p.family, d->id.idiag_src, text, sizeof text);
      p.address = text;
      p.inode = d->idiag_inode;
      p.cookie = cookie_of(d->id);
      p.uid = d->idiag_uid;
      out.push_back(std::move(p));
    }
  }
}

std::vector<OpenPort> SockDiag::open_ports() {
  std::vector<OpenPort> out;
  for (Proto proto : {Proto::kTcp, Proto::kUdp})
    for (int family : {AF_INET, AF_INET6}) dump(proto, family, out);
  std::sort(out.begin(), out.end());
  return out;
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

DestroyEvents::DestroyEvents(UniqueFd fd) : fd_(std::move(fd)) {
  int flags = fcntl(fd_.get(), F_GETFL);
  if (flags < 0 || fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK) < 0)
    throw_errno("cannot make the sock_diag socket non-blocking");
  // A burst of closes (an app dropping a thousand sockets) must not
  // overflow the default buffer; FORCE works where we hold CAP_NET_ADMIN.
  // Bound first: the kernel does not deliver a broadcast to a socket whose
  // port id equals the sender's, and an unbound socket's is 0, the kernel's.
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&self), sizeof self) < 0)
    throw_errno("cannot bind the sock_diag broadcast socket");
  // Only sockets with no peer matter: listeners and unconnected UDP
  // sockets. Every connection that ends (a forwarded one ends two sockets
  // inside the sandbox) is broadcast too; a socket filter drops those in
  // the kernel instead of waking the monitor for each. "No peer": the
  // destination port and all 16 bytes of the destination address are 0
  // (a reset connection has its port cleared, not its address).
  constexpr uint32_t kId = NLMSG_HDRLEN + offsetof(inet_diag_msg, id);
  constexpr uint32_t kDport = kId + offsetof(inet_diag_sockid, idiag_dport);
  constexpr uint32_t kDst = kId + offsetof(inet_diag_sockid, idiag_dst);
  struct sock_filter peerless[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, kDport),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 9),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kDst),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 7),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kDst + 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kDst + 8),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kDst + 12),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),  // keep
      BPF_STMT(BPF_RET | BPF_K, 0),           // drop
  };
  struct sock_fprog program = {sizeof peerless / sizeof peerless[0], peerless};
  if (setsockopt(fd_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0)
    throw_errno("cannot filter the sock_diag broadcast");
  int size = 4 << 20;
  if (setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  for (int group : {SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET_UDP_DESTROY, SKNLGRP_INET6_TCP_DESTROY,
                    SKNLGRP_INET6_UDP_DESTROY})
    if (setsockopt(fd_.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
      throw_errno("cannot join the sock_diag destroy group " + std::to_string(group));
}

bool DestroyEvents::read(std::vector<uint64_t>& cookies) {
  alignas(nlmsghdr) char buf[32768];
  bool complete = true;
  for (;;) {
    ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        complete = false;
        continue;
      }
      if (errno == EAGAIN) return complete;
      throw_errno("cannot read socket destroy events (sock_diag)");
    }
    size_t left = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
          h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
        continue;
      cookies.push_back(cookie_of(static_cast<inet_diag_msg*>(NLMSG_DATA(h))->id));
    }
  }
}

namespace {

// pid and everything below it, from /proc/PID/task/*/children.
std::vector<pid_t> descendants(pid_t root) {
  std::vector<pid_t> all = {root};
  for (size_t i = 0; i < all.size(); ++i) {
    std::string tasks = "/proc/" + std::to_string(all[i]) + "/task";
    DIR* d = opendir(tasks.c_str());
    if (!d) continue;
    while (auto* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string children;
      try {
        children = read_file(tasks + "/" + e->d_name + "/children");
      } catch (const Error&) {
        continue;
      }
      std::istringstream in(children);
      pid_t p;
      while (in >> p) all.push_back(p);
    }
    closedir(d);
  }
  return all;
}

}  // namespace

std::map<uint64_t, pid_t> socket_owners(pid_t root_pid) {
  std::map<uint64_t, pid_t> owners;
  for (pid_t pid : descendants(root_pid)) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = opendir(dir.c_str());
    if (!d) continue;
    while (auto* e = readdir(d)) {
      char link[64];
      ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
      if (n <= 8) continue;
      link[n] = '\0';
      unsigned long long inode;
      if (sscanf(link, "socket:[%llu]", &inode) == 1) owners.emplace(inode, pid);
    }
    closedir(d);
  }
  return owners;
}

}  // namespace coracle::portmon
