// One way to run a thing, for every caller: `coracle exec`, the chain's
// builtin:exec and (next) detached apps hand a finished sandbox::Spec here
// and get one outcome back, whichever backend runs it (Linux namespaces or
// the micro-VM). This owns what each caller used to assemble itself: the
// port monitor (one options type for both backends), the writable layer on
// disk, the output relay, and the wording of how a run ended.
#pragma once
#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "launch/launch.h"
#include "portmon/port_tracker.h"
#include "portmon/publish.h"
#include "sandbox/sandbox.h"

namespace coracle::launch {

// The ports a run watches and forwards, for either backend.
struct PortRequest {
  std::vector<portmon::Publish> publish;            // -p, and ports the chain's state names
  bool publish_all = false;                         // -P: every TCP port the command opens
  bool watch = false;                               // report ports even when none is forwarded
  std::chrono::milliseconds rescan_interval{2000};  // the monitor's safety net
  bool wanted() const { return watch || publish_all || !publish.empty(); }
};

// What a run tells while it goes. Port events and warnings come in order
// on a thread of the port monitor (namespaces) or on the caller's (the
// micro-VM); output pieces in order per stream.
class Observer {
 public:
  virtual ~Observer() = default;
  // A -p forward bound on the host before the command starts.
  virtual void published(const portmon::PortEvent&) {}
  // A port the command opened or closed.
  virtual void port(const portmon::PortEvent&) {}
  // A fault the run survived (the port monitor's).
  virtual void warning(const std::string&) {}
  // The micro-VM's VMM is chosen: "kvm" or "tcg".
  virtual void vm_started(const std::string& /*accel*/) {}
  // With Request::capture_output: stream 1 or 2, an empty piece when that
  // stream has ended.
  virtual void output(int /*stream*/, std::string_view /*data*/) {}
};

struct Request {
  sandbox::Spec spec;      // complete: rootfs, process, binds, network, limits
  std::string store_root;  // the writable layer's home, the VM's caches
  bool vm = false;         // the micro-VM backend (src/vm), else namespaces
  PortRequest ports;
  // The command's output to Observer::output instead of spec's fds (its
  // stdin is then empty).
  bool capture_output = false;
  // With capture_output: both streams down one pipe, in the order written,
  // told as stream 1 (namespaces only).
  bool merge_output = false;
  // The micro-VM relays spec.stdin_fd to the command (-i); else its stdin
  // is empty.
  bool vm_stdin = false;
};

struct Outcome {
  sandbox::Result result;  // exit status, signal, timeout, coracle's message
  std::set<uint16_t> tcp_ports_seen;
  // The run's writable layer on disk, held while this lives: result.upper
  // (Spec::keep_upper) reads from it.
  WritableLayer writable_layer;
  // coracle could not start the command (its message says why), as
  // opposed to a command that ran and failed.
  bool failed_to_start() const;
};

// Runs request to its end. Throws coracle::Error for what is refused before
// anything starts (ports with --net none, --net host in a micro-VM, a UDP
// -p in a micro-VM); a sandbox that fails to start is an Outcome.
Outcome run(Request request, Observer& observer);

// How a run ended, in the words every caller uses: "stopped: TIMEOUT is
// over", coracle's message, "killed by signal N (SIGNAME)", or "exited
// with status N". timeout names the limit ("the run's --timeout").
std::string how_it_ended(const sandbox::Result& result, const std::string& timeout);

}  // namespace coracle::launch
