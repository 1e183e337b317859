#include "sandbox/net_counters.h"

#include <fcntl.h>
#include <unistd.h>

namespace coracle::sandbox {
namespace {

// The line starting with prefix at or after from; npos when none.
size_t line_at(std::string_view text, std::string_view prefix, size_t from = 0) {
  for (size_t at = from; at < text.size();) {
    if (text.compare(at, prefix.size(), prefix) == 0) return at;
    size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) break;
    at = nl + 1;
  }
  return std::string_view::npos;
}

std::string_view line_from(std::string_view text, size_t at) {
  size_t nl = text.find('\n', at);
  return text.substr(at, nl == std::string_view::npos ? text.size() - at : nl - at);
}

// The index-th word of line (words split by spaces and tabs).
std::string_view word(std::string_view line, size_t index) {
  size_t at = 0;
  for (size_t i = 0;; ++i) {
    while (at < line.size() && (line[at] == ' ' || line[at] == '\t')) ++at;
    size_t end = line.find_first_of(" \t", at);
    if (end == std::string_view::npos) end = line.size();
    if (at >= line.size()) return {};
    if (i == index) return line.substr(at, end - at);
    at = end;
  }
}

uint64_t number(std::string_view text) {
  uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

// /proc/net/snmp: an "Ip:" line of names, then an "Ip:" line of values.
uint64_t ipv4_out_no_routes(std::string_view snmp) {
  size_t names_at = line_at(snmp, "Ip: ");
  if (names_at == std::string_view::npos) return 0;
  std::string_view names = line_from(snmp, names_at);
  size_t values_at = line_at(snmp, "Ip: ", names_at + names.size());
  if (values_at == std::string_view::npos) return 0;
  std::string_view values = line_from(snmp, values_at);
  for (size_t i = 1; !word(names, i).empty(); ++i)
    if (word(names, i) == "OutNoRoutes") return number(word(values, i));
  return 0;
}

// /proc/net/snmp6: "Ip6OutNoRoutes <spaces> N".
uint64_t ipv6_out_no_routes(std::string_view snmp6) {
  size_t at = line_at(snmp6, "Ip6OutNoRoutes");
  if (at == std::string_view::npos) return 0;
  return number(word(line_from(snmp6, at), 1));
}

// Up to size bytes of path; empty when it cannot be read.
std::string_view read_into(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  return {buf, got};
}

}  // namespace

uint64_t parse_out_no_routes(std::string_view snmp, std::string_view snmp6) {
  return ipv4_out_no_routes(snmp) + ipv6_out_no_routes(snmp6);
}

uint64_t read_out_no_routes() {
  // /proc/net/snmp is ~1.6 KiB and snmp6 ~5 KiB on this kernel; what is
  // cut off only loses counters after the ones read.
  char snmp[4096], snmp6[8192];
  return parse_out_no_routes(read_into("/proc/net/snmp", snmp, sizeof snmp),
                             read_into("/proc/net/snmp6", snmp6, sizeof snmp6));
}

}  // namespace coracle::sandbox
