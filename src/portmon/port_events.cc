#include "portmon/port_events.h"

#include <sys/socket.h>

#include "common/terminal_text.h"
#include "portmon/publish.h"

namespace coracle::portmon {
namespace {

// Where a person on the host connects: a wildcard host address is
// reached through loopback. No scheme: a port is not known to speak HTTP
// (redis, PostgreSQL, an SSH server would all have been http:// links).
std::string reachable_at(const PortEvent& e) {
  std::string address = e.host_address;
  if (address == "0.0.0.0") address = "127.0.0.1";
  if (address == "::") address = "::1";
  return host_and_port(address, e.host_port);
}

// "8080/tcp", and its family when the port is open on both (two listeners,
// IPv4 and IPv6: each line says which it is).
std::string port_name(const PortEvent& e) {
  std::string name = std::to_string(e.port.port) + "/" + proto_name(e.port.proto);
  if (e.both_families) name += e.port.family == AF_INET6 ? " (IPv6)" : " (IPv4)";
  return name;
}

}  // namespace

nlohmann::json port_event_json(const PortEvent& e) {
  nlohmann::json j = {
      {"event", e.kind == PortEvent::Kind::kOpen ? "port.open" : "port.close"},
      {"proto", proto_name(e.port.proto)},
      {"family", e.port.family == AF_INET6 ? "ipv6" : "ipv4"},
      {"address", e.port.address},
      {"port", e.port.port},
  };
  if (e.pid) j["pid"] = e.pid;
  if (e.sandbox_pid) j["sandbox_pid"] = e.sandbox_pid;
  if (!e.process.empty()) j["process"] = e.process;
  if (e.host_port) {
    j["host_address"] = e.host_address;
    j["host_port"] = e.host_port;
  }
  if (!e.note.empty()) j["note"] = e.note;
  // When the monitor saw it (not when it is printed): milliseconds since
  // the epoch, to the microsecond, as every time of the event stream.
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(e.time.time_since_epoch());
  j["time_ms"] = static_cast<double>(us.count()) / 1e3;
  return j;
}

std::string port_event_line(const PortEvent& e) {
  std::string line = "port " + port_name(e);
  if (e.kind == PortEvent::Kind::kClose) return line + " closed";
  line += e.host_port ? " open → " + reachable_at(e) : " open on " + e.port.address;
  if (!e.process.empty() || e.pid) {
    // The name is the sandbox's own choice (its comm): through the one
    // sanitiser, as every string from outside (a sequence goes whole).
    std::string name = terminal_safe(e.process);
    line += " (" + (name.empty() ? std::string("?") : name);
    if (e.pid) line += ", pid " + std::to_string(e.pid);
    line += ")";
  }
  if (!e.note.empty()) line += "; " + e.note;
  return line;
}

nlohmann::json publish_event_json(const PortEvent& e) {
  nlohmann::json j = {{"event", "port.publish"},
                      {"proto", proto_name(e.port.proto)},
                      {"port", e.port.port},
                      {"host_address", e.host_address},
                      {"host_port", e.host_port}};
  if (!e.note.empty()) j["note"] = e.note;
  return j;
}

std::string publish_event_line(const PortEvent& e) {
  std::string line = "forwarding " + host_and_port(e.host_address, e.host_port) + " → port " +
                     port_name(e) + " in the sandbox";
  if (!e.note.empty()) line += " (" + e.note + ")";
  return line;
}

}  // namespace coracle::portmon
