// What a sandbox's network counters say about its command: how many
// packets it sent to addresses its network namespace has no route to (a
// loopback-only network asked to reach the world: a name to resolve, a
// host to connect to). Read by init, after the command, from the kernel's
// per-namespace SNMP counters; nothing is allocated.
#pragma once
#include <cstdint>
#include <string_view>

namespace coracle::sandbox {

// Ip's OutNoRoutes in /proc/net/snmp's text plus Ip6OutNoRoutes in
// /proc/net/snmp6's (0 for what is missing or malformed).
uint64_t parse_out_no_routes(std::string_view snmp, std::string_view snmp6);

// The same read from this process's network namespace (/proc/net/*), into
// buffers on the stack: safe in init after the clone.
uint64_t read_out_no_routes();

}  // namespace coracle::sandbox
