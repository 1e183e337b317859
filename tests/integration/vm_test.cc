// The micro-VM backend under qemu (TCG here and in CI: each boot takes
// seconds, so these tests are few and labelled "vm").
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "common/error.h"
#include "common/fs.h"
#include "harness.h"
#include "vm/guest_kernel.h"
#include "vm/protocol.h"
#include "vm/qemu.h"

namespace coracle::test {
namespace {

TEST(Vm, TheAgentBootsAndSaysReadyOverItsChannel) {
  vm::GuestKernel kernel;
  try {
    kernel = vm::find_guest_kernel();
  } catch (const Error& e) {
    FAIL() << e.what() << " (make deps installs linux-image-cloud-amd64)";
  }
  TempDir cache;
  vm::VmConfig config;
  config.kernel = kernel;
  config.initramfs = vm::ensure_initramfs(cache.path(), kernel, CORACLE_BIN);
  config.kvm = vm::kvm_usable();
  config.memory_bytes = 256ULL << 20;
  config.console_log = cache.path() + "/console.log";
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd host(pair[0]), guest(pair[1]);
  config.channel_fd = guest.get();
  vm::VmProcess qemu(config);
  guest.reset();
  vm::FrameReader reader;
  std::optional<vm::Frame> frame;
  while (!frame) {
    struct pollfd p = {host.get(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 60000), 1) << "no word from the agent in 60 s:\n"
                                     << read_file(config.console_log);
    char buf[256];
    ssize_t n = read(host.get(), buf, sizeof buf);
    ASSERT_GT(n, 0) << "the channel closed:\n" << read_file(config.console_log);
    reader.feed(buf, static_cast<size_t>(n));
    frame = reader.next();
  }
  EXPECT_EQ(frame->type, vm::FrameType::Ready);
  int status = qemu.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace coracle::test
