// How port events read: one JSON object (the `--json` stream of exec and
// run) or one line for people on stderr.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "portmon/port_tracker.h"

namespace coracle::portmon {

// {"event":"port.open","proto":"tcp","family":"ipv4","address":"0.0.0.0",
//  "port":5000,"pid":4242,"sandbox_pid":7,"process":"python3",
//  "host_address":"127.0.0.1","host_port":5000,"time_ms":1795000000123.456};
// host_* only when forwarded; time_ms: when the monitor saw it (ms since
// the epoch). The CLI's event stream puts `event`, `v` and time_ms first.
nlohmann::json port_event_json(const PortEvent& event);
// "port 5000/tcp open → 127.0.0.1:5000 (python3, pid 4242)"
std::string port_event_line(const PortEvent& event);

// A -p forward bound at start (PortMonitor::published()).
nlohmann::json publish_event_json(const PortEvent& published);
// "forwarding 0.0.0.0:8080 → port 80/tcp in the sandbox"
std::string publish_event_line(const PortEvent& published);

}  // namespace coracle::portmon
