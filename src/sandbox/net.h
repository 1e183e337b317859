// Network namespace setup, in crun's compile-in-parent, apply-in-child
// style: libnl builds the rtnetlink request in the parent (where allocating
// is fine), and the child, once inside its new network namespace, sends the
// prebuilt bytes on a netlink socket of its own and checks the kernel's ack.
// The kernel checks CAP_NET_ADMIN against the child, root in its user
// namespace, so this works rootless too, with no round trip to the parent.
#pragma once
#include <vector>

namespace coracle::sandbox {

// RTM_NEWLINK for "lo" (always ifindex 1 in a new namespace) with IFF_UP,
// asking for an ack. Throws coracle::Error.
std::vector<char> build_loopback_up_request();

// Child side: sends a prebuilt rtnetlink request and waits for its ack.
// Allocates nothing. Returns 0 or -errno (the kernel's, from the ack).
int send_netlink_request(const std::vector<char>& request);

}  // namespace coracle::sandbox
