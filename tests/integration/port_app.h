// `coracle exec --json ... /port_probe` driven line by line: commands go to
// the probe's stdin; its "probe ..." answers and coracle's JSON events come
// back on one stdout, in the order they were written.
#pragma once
#include <sys/types.h>

#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness.h"

namespace coracle::test {

class PortApp {
 public:
  using Events = std::vector<nlohmann::json>;
  // flags go between `exec --json` and `-- /port_probe`.
  explicit PortApp(const std::vector<std::string>& flags, const RunOptions& options = {});
  ~PortApp();

  // Sends one command and returns the probe's answer (without "probe ").
  std::string send(const std::string& command);
  // Reads until done(events) holds; false if it did not within max_ms.
  bool wait_for(const std::function<bool(const Events&)>& done, int max_ms = 20000);
  // port.* events of one kind so far ("port.open", "port.close", "port.publish").
  Events of_kind(const std::string& kind) const;
  const Events& events() const { return events_; }
  pid_t pid() const { return pid_; }  // coracle's, the runner
  // Tells the probe to exit (if it runs), reads to the end; coracle's status.
  int finish(int code = 0);

 private:
  void read_some(int timeout_ms);
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
  bool eof_ = false, exited_ = false;
  std::string partial_;
  Events events_;
  std::deque<std::string> answers_;
};

// A TCP port free on the host right now (bound to port 0, then closed).
uint16_t free_host_port();
// A connected TCP socket to 127.0.0.1:port, or -1.
int connect_tcp(uint16_t port);

}  // namespace coracle::test
