// /etc/hostname, /etc/hosts and /etc/resolv.conf for every sandbox, as
// podman makes them: generated from the sandbox's hostname and network and
// the host's resolvers, bound read-only (sandbox::GeneratedFile), never
// written into the rootfs or a build's layer.
#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"
#include "launch/launch.h"
#include "sandbox/pasta.h"

namespace coracle::launch {
namespace {

bool is_loopback(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1";
}

// fe80::/10, with or without a %scope: the host's link, not the sandbox's.
bool is_link_local(const std::string& ip) {
  struct in6_addr a;
  if (inet_pton(AF_INET6, ip.substr(0, ip.find('%')).c_str(), &a) != 1) return false;
  return a.s6_addr[0] == 0xfe && (a.s6_addr[1] & 0xc0) == 0x80;
}

// " a b c": the words after a resolv.conf keyword.
std::string words(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& w : list) out += " " + w;
  return out;
}

bool looks_like_ip(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789abcdefABCDEF.:") == std::string::npos;
}

}  // namespace

std::string resolv_conf_for(sandbox::NetMode net, const std::string& host_text,
                            const EtcOptions& options) {
  using sandbox::NetMode;
  // With pasta forwarding, its address stands for the host's first IPv4
  // resolver (sandbox::pasta_forwards_dns says why only then).
  bool forwarded = net == NetMode::Pasta && sandbox::pasta_forwards_dns(host_text);
  bool first_v4 = true;
  std::string out;
  std::vector<std::string> servers;
  for (const auto& line : split(host_text, '\n')) {
    std::string t = trimmed(line);
    if (t.rfind("nameserver", 0) == 0 && t.size() > 10 && (t[10] == ' ' || t[10] == '\t')) {
      std::string ip = trimmed(t.substr(11));
      bool v4 = ip.find(':') == std::string::npos;
      bool is_pastas_pick = v4 && first_v4;
      if (v4) first_v4 = false;
      if (net != NetMode::Host) {
        if (forwarded && is_pastas_pick)
          ip = sandbox::kPastaDnsForward;
        else if (is_loopback(ip) || (net == NetMode::Pasta && is_link_local(ip)))
          continue;  // the host's own, or its link's: out of a namespace's reach
      }
      if (std::find(servers.begin(), servers.end(), ip) == servers.end()) servers.push_back(ip);
    } else if (!t.empty()) {
      bool is_search = t.rfind("search", 0) == 0 || t.rfind("domain", 0) == 0;
      bool is_options = t.rfind("options", 0) == 0;
      // search, options, comments; the user's own replace the host's.
      if (!(is_search && !options.dns_search.empty()) &&
          !(is_options && !options.dns_options.empty()))
        out += t + "\n";
    }
  }
  if (!options.dns_search.empty() && options.dns_search != std::vector<std::string>{"."})
    out += "search" + words(options.dns_search) + "\n";
  if (!options.dns_options.empty()) out += "options" + words(options.dns_options) + "\n";
  if (!options.dns.empty()) servers = options.dns;
  // With pasta forwarding, its address; on a network of loopback only, the
  // same address where the host had none the sandbox could use (its own
  // loopback answers nothing): a query fails at once, unrouted, and a
  // failed exec says which flag gives outbound access (net_counters.h).
  if (servers.empty() && (forwarded || net == NetMode::Private || net == NetMode::None))
    servers.push_back(sandbox::kPastaDnsForward);
  for (const auto& s : servers) out += "nameserver " + s + "\n";
  return out;
}

std::string hosts_for(const std::string& hostname, const std::vector<std::string>& add_hosts) {
  std::string out = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" +
                    hostname + "\n";
  for (const auto& entry : add_hosts) {
    // NAME:IP (docker's form; IPv6 addresses keep their colons).
    auto colon = entry.find(':');
    std::string name = colon == std::string::npos ? "" : entry.substr(0, colon);
    std::string ip = colon == std::string::npos ? "" : entry.substr(colon + 1);
    if (name.empty() || name.find_first_of(" \t\r\n#") != std::string::npos || !looks_like_ip(ip))
      throw Error("invalid --add-host '" + entry + "': use NAME:IP");
    out += ip + "\t" + name + "\n";
  }
  return out;
}

void check_etc_options(const EtcOptions& options) {
  for (const auto& ip : options.dns)
    if (!looks_like_ip(ip)) throw Error("invalid --dns '" + ip + "': give an IP address");
  // Words of one line in resolv.conf: nothing that would start another.
  const std::pair<const char*, const std::vector<std::string>*> lists[] = {
      {"--dns-search", &options.dns_search}, {"--dns-option", &options.dns_options}};
  for (const auto& [flag, list] : lists)
    for (const auto& word : *list)
      if (word.empty() || word.find_first_of(" \t\r\n#;") != std::string::npos)
        throw Error(std::string("invalid ") + flag + " '" + word + "': one word, no spaces");
  for (const auto& entry : options.add_hosts) hosts_for("check", {entry});
}

void add_etc_files(sandbox::Spec& spec, const EtcOptions& options) {
  check_etc_options(options);
  std::string host_resolv = sandbox::host_resolv_conf();
  const std::pair<const char*, std::string> files[] = {
      {"/etc/hostname", spec.hostname + "\n"},
      {"/etc/hosts", hosts_for(spec.hostname, options.add_hosts)},
      {"/etc/resolv.conf", resolv_conf_for(spec.net, host_resolv, options)},
  };
  for (const auto& [target, content] : files) {
    // The user's own bind of the file wins.
    bool bound = false;
    for (const auto& v : spec.volumes) bound |= v.target == target;
    if (!bound) spec.generated_files.push_back({target, content});
  }
}

}  // namespace coracle::launch
