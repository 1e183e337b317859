// Network namespace setup. The child opens a NETLINK_ROUTE socket inside its
// new network namespace and passes it to the parent, which configures the
// namespace through it with libnl. The kernel checks CAP_NET_ADMIN against the
// socket's opener (the child, root in its user namespace), so this works
// rootless too, without the parent ever entering the namespace.
#pragma once

namespace coracle::sandbox {

// Brings the loopback interface up. Takes ownership of netlink_fd. Throws
// coracle::Error.
void bring_up_loopback(int netlink_fd);

}  // namespace coracle::sandbox
