#include "sandbox/net.h"

#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <unistd.h>

#include <memory>

#include "common/error.h"

namespace coracle::sandbox {
namespace {

struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct LinkDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};

}  // namespace

void bring_up_loopback(int netlink_fd) {
  std::unique_ptr<nl_sock, SockDeleter> sock(nl_socket_alloc());
  if (!sock) {
    close(netlink_fd);
    throw Error("cannot allocate a netlink socket");
  }
  // nl_socket_free closes the fd from here on.
  if (int rc = nl_socket_set_fd(sock.get(), -1, netlink_fd); rc < 0) {
    close(netlink_fd);
    throw Error(std::string("netlink: ") + nl_geterror(rc));
  }
  // In a new network namespace "lo" is always ifindex 1; describing it is
  // enough, no dump of the (one) link is needed.
  std::unique_ptr<rtnl_link, LinkDeleter> orig(rtnl_link_alloc());
  std::unique_ptr<rtnl_link, LinkDeleter> change(rtnl_link_alloc());
  if (!orig || !change) throw Error("cannot allocate a netlink link");
  rtnl_link_set_ifindex(orig.get(), 1);
  rtnl_link_set_name(orig.get(), "lo");
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int rc = rtnl_link_change(sock.get(), orig.get(), change.get(), 0); rc < 0)
    throw Error(std::string("cannot bring up loopback in the sandbox: ") + nl_geterror(rc));
}

}  // namespace coracle::sandbox
