#include "sandbox/net.h"

#include <linux/netlink.h>
#include <net/if.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "common/error.h"

namespace coracle::sandbox {
namespace {

struct LinkDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct MsgDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};

}  // namespace

std::vector<char> build_loopback_up_request() {
  std::unique_ptr<rtnl_link, LinkDeleter> orig(rtnl_link_alloc());
  std::unique_ptr<rtnl_link, LinkDeleter> change(rtnl_link_alloc());
  if (!orig || !change) throw Error("cannot allocate a netlink link");
  rtnl_link_set_ifindex(orig.get(), 1);
  rtnl_link_set_name(orig.get(), "lo");
  rtnl_link_set_flags(change.get(), IFF_UP);
  nl_msg* raw = nullptr;
  if (int rc = rtnl_link_build_change_request(orig.get(), change.get(), 0, &raw); rc < 0)
    throw Error(std::string("cannot build the loopback request: ") + nl_geterror(rc));
  std::unique_ptr<nl_msg, MsgDeleter> msg(raw);
  nlmsghdr* hdr = nlmsg_hdr(msg.get());
  hdr->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  hdr->nlmsg_seq = 1;
  const char* bytes = reinterpret_cast<const char*>(hdr);
  return std::vector<char>(bytes, bytes + hdr->nlmsg_len);
}

int send_netlink_request(const std::vector<char>& request) {
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (sock < 0) return -errno;
  struct sockaddr_nl kernel {};
  kernel.nl_family = AF_NETLINK;
  int rc = 0;
  if (sendto(sock, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof kernel) < 0) {
    rc = -errno;
  } else {
    alignas(nlmsghdr) char reply[512];
    ssize_t n = recv(sock, reply, sizeof reply, 0);
    auto* hdr = reinterpret_cast<nlmsghdr*>(reply);
    if (n < 0)
      rc = -errno;
    else if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) ||
             hdr->nlmsg_type != NLMSG_ERROR)
      rc = -EPROTO;
    else
      rc = static_cast<nlmsgerr*>(NLMSG_DATA(hdr))->error;  // 0 or -errno
  }
  close(sock);
  return rc;
}

}  // namespace coracle::sandbox
