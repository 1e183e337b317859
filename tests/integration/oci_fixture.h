// What the coracle-runc tests share: the binary under its runtime name, a
// bundle as an engine lays it out, waiting for a process to end.
#pragma once
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <string>

#include "common/fs.h"
#include "harness.h"

namespace coracle::test {

inline std::string runc() {
  return std::string(CORACLE_BIN) + "-runc";
}

// A process ends within two seconds (a container's, once killed).
inline bool eventually_gone(pid_t pid) {
  for (int i = 0; i < 100; ++i) {
    if (kill(pid, 0) < 0 && errno == ESRCH) return true;
    usleep(20000);
  }
  return false;
}

// A bundle as an engine lays it out: a rootfs of the host's static busybox
// with these applets, and runc's starting config (terminal as given).
inline nlohmann::json make_bundle(const std::string& bundle, const std::string& applets,
                                  bool terminal = false) {
  mkdir_p(bundle + "/rootfs/bin");
  run_sh("cp /bin/busybox " + bundle + "/rootfs/bin/ && for a in " + applets +
         "; do ln -s busybox " + bundle + "/rootfs/bin/$a; done");
  run_sh(runc() + " spec --bundle " + bundle);
  nlohmann::json config = nlohmann::json::parse(read_file(bundle + "/config.json"));
  config["process"]["terminal"] = terminal;
  return config;
}

}  // namespace coracle::test
