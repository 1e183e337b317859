// The guest agent: coracle itself, run by the guest kernel as the
// initramfs's /init (PID 1). It loads the modules the host put in the
// initramfs, finds its channel to the host, and runs what the host asks
// (docs/vm.md, the guest contract).
#pragma once

namespace coracle::vm {

// True when this process is the guest's init: PID 1, started as /init.
bool is_guest_init(int argc, char** argv);

[[noreturn]] void agent_main();

}  // namespace coracle::vm
