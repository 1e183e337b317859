// A test host outside the machine's own network stack: a network namespace
// joined to the host by a veth pair (10.213.N.1 on the host's side,
// 10.213.N.2 inside), serving HTTP from a directory. What a sandbox with
// outbound access must reach, and nothing it reaches is a real outside
// address.
#pragma once
#include <string>

#include "harness.h"
#include "registry_fixture.h"

namespace coracle::test {

class TestHost {
 public:
  TestHost();
  ~TestHost();
  const std::string& ip() const { return ip_; }     // the test host's address
  const std::string& netns() const { return ns_; }  // for `ip netns exec`
  int port() const { return 8080; }
  // A file the HTTP server serves at /name (its folders made).
  void serve(const std::string& name, const std::string& content);
  // A busybox shell command that prints /name from the test host.
  std::string fetch_command(const std::string& name) const;

 private:
  std::string ns_, veth_, ip_;
  TempDir root_;
  Background server_;
};

}  // namespace coracle::test
