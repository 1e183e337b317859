// The agent's half of a run: the guest's rootfs from the host's erofs
// layers, then the command, its stdio relayed as frames over the channel.
#pragma once
#include "vm/protocol.h"

namespace coracle::vm {

// Builds the rootfs at /run/root: the layers (/dev/vda, vdb, ...; lowest
// first) under an overlay whose upper dir is on a tmpfs, /proc, /sys, /dev,
// /tmp, the generated files. Returns an error message, empty on success.
std::string prepare_guest_rootfs(const GuestSpec& spec);

// Runs the command in /run/root and relays: Stdin/StdinEnd/Signal frames
// in, Stdout/Stderr frames out, then Exit (or Failed when it could not
// start). from_host holds what the agent read after Start (the host may
// send input at once). Returns when the command has ended and its output
// is sent.
void run_guest_command(const GuestSpec& spec, int channel, FrameReader& from_host);

// Writes all of data to fd (the channel); false when it is gone.
bool send_all(int fd, const std::string& data);

}  // namespace coracle::vm
