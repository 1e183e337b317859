// The agent's protocol: frames on one virtio-serial port between the host
// and the guest agent (docs/vm.md). A frame is a 4-byte little-endian
// length (of what follows), a 1-byte type and the payload. Independent of
// the VMM: qemu's virtio-serial today, a VMM of coracle's own later.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coracle::vm {

enum class FrameType : uint8_t {
  // guest -> host
  Ready = 1,   // the agent is up; payload: its version
  Stdout = 2,  // the command's output
  Stderr = 3,
  Exit = 4,    // JSON {"exit_code": N, "signal": S}
  Failed = 5,  // the agent could not start the command: JSON {"errno": E, "what": "..."}
  Port = 6,    // a port opened or closed: {"open": B, "proto": "tcp", "address": A, "port": N}
  // both ways: a forwarded connection's bytes, its end (payload: the
  // stream's id, 4 bytes little-endian, then the bytes)
  StreamData = 7,
  StreamClose = 8,
  // host -> guest
  Start = 16,     // JSON GuestSpec
  Stdin = 17,     // input for the command
  StdinEnd = 18,  // no more input
  Signal = 19,    // payload: the signal's number, decimal
  Connect = 20,   // a host connection to forward: {"id": N, "port": P} (TCP, to 127.0.0.1:P)
  Resize = 21,    // the terminal's new size (GuestSpec::tty): "ROWS COLS", decimal
};

// Larger frames are refused: a hostile guest cannot make the host buffer
// without bound.
inline constexpr uint32_t kMaxFramePayload = 1 << 20;

struct Frame {
  FrameType type;
  std::string payload;
};

std::string encode_frame(FrameType type, std::string_view payload);
// StreamData/StreamClose payloads: the id, then the bytes.
std::string stream_payload(uint32_t id, std::string_view bytes = {});
uint32_t stream_id(const std::string& payload);  // 0 when too short

// Reassembles frames from a byte stream read in any pieces.
class FrameReader {
 public:
  void feed(const char* data, size_t size);
  // The next whole frame, if one is in. Throws coracle::Error for a frame
  // over kMaxFramePayload or of no known type.
  std::optional<Frame> next();

 private:
  std::string buffer_;
};

// What the guest runs: the launch path's result, as the agent needs it.
struct GuestSpec {
  std::vector<std::string> argv, env;
  uint32_t uid = 0, gid = 0;
  std::string workdir = "/";
  std::string hostname = "coracle";
  unsigned layers = 0;  // /dev/vda.. in order, lowest first: erofs images
  bool read_only = false;
  struct Share {
    std::string tag;     // the virtio-fs tag
    std::string target;  // where it goes inside
    bool read_only = false;
  };
  std::vector<Share> shares;                               // /in, /out, -v
  std::vector<std::pair<std::string, std::string>> files;  // generated: target, content
  // A pure cgroup v2 host for the command: cgroup2 mounted (read-write) at
  // /sys/fs/cgroup, nothing else. (The tests run the sandbox's cgroup code
  // there: users' hosts are pure v2.)
  bool cgroup2 = false;
  // Where the agent's own binary (coracle) is bound read-only inside; ""
  // none. With it, coracle runs in the guest (the cgroup v2 tests).
  std::string agent_at;
  // Report the TCP ports the command listens on (Port frames) and take
  // forwarded connections (Connect).
  bool watch_ports = false;
  // A terminal for the command (exec --vm -t): a pty of the rootfs's own
  // devpts, this size to start with; its output comes as Stdout frames.
  bool tty = false;
  uint16_t rows = 0, cols = 0;
  // The command's privileges, as in a sandbox: Docker's default
  // capabilities for root adjusted by these (none for another uid),
  // no_new_privs, and the seccomp profile: "default", "unconfined", or a
  // profile's JSON text.
  std::vector<std::string> cap_add, cap_drop;
  std::string seccomp = "default";
  // An outbound network: eth0 as passt's guest (kGuestAddress/kGuestPrefix,
  // the default route through kGuestGateway; passt.h).
  bool network = false;
};

std::string to_json(const GuestSpec& spec);
// Throws coracle::Error for anything malformed (the agent refuses it).
GuestSpec guest_spec_from_json(std::string_view text);

}  // namespace coracle::vm
