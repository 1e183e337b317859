// --device for a root runner: the sandbox's root must own the device as
// root owns it on the host, and nodes bound from devtmpfs cannot be
// idmapped. So the runner makes a twin node owned by container root's host
// ids, in a directory only root may enter, and binds that.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace coracle::sandbox {

// A detached mount of a twin of the node at source (same type, numbers and
// mode) owned by owner:group, not nodev; its directory goes into made (for
// remove_device_twins). An empty fd when anything fails: the caller binds
// the plain node instead.
UniqueFd make_device_tree(const std::string& source, uid_t owner, gid_t group,
                          std::vector<std::string>& made);
// Once the sandbox has ended.
void remove_device_twins(const std::vector<std::string>& dirs);
// The twins of runners that died (SIGKILL) before removing theirs.
void sweep_device_twins();

}  // namespace coracle::sandbox
