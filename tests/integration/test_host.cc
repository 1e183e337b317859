#include "test_host.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/fs.h"

namespace coracle::test {

TestHost::TestHost() {
  int n = getpid() % 250 + 1;
  ns_ = "coracle-th-" + std::to_string(getpid());
  veth_ = "cth" + std::to_string(getpid());
  std::string net = "10.213." + std::to_string(n);
  ip_ = net + ".2";
  run_sh("ip netns add " + ns_ + " && ip link add " + veth_ + " type veth peer name eth0 netns " +
         ns_ + " && ip addr add " + net + ".1/24 dev " + veth_ + " && ip link set " + veth_ +
         " up && ip -n " + ns_ + " addr add " + ip_ + "/24 dev eth0 && ip -n " + ns_ +
         " link set eth0 up && ip -n " + ns_ + " link set lo up && ip -n " + ns_ +
         " route add default via " + net + ".1");
  // busybox's httpd (python's http.server looks its own name up first,
  // which in here waits for a resolver that is not there).
  server_ = Background({"ip", "netns", "exec", ns_, "busybox", "httpd", "-f", "-p",
                        ip_ + ":" + std::to_string(port()), "-h", root_.path()},
                       root_.path() + "/.server.log");
  if (!wait_for_address(ip_, port())) ADD_FAILURE() << "the test host's server did not start";
}

TestHost::~TestHost() {
  server_ = Background();
  (void)!system(
      ("ip netns del " + ns_ + " 2>/dev/null; ip link del " + veth_ + " 2>/dev/null").c_str());
}

void TestHost::serve(const std::string& name, const std::string& content) {
  std::string path = root_.path() + "/" + name;
  mkdir_p(path.substr(0, path.rfind('/')));
  write_file_atomic(path, content);
}

std::string TestHost::fetch_command(const std::string& name) const {
  // (busybox's own -T timeout crashes Debian's static build: timeout(1).)
  return "timeout 10 wget -q -O- http://" + ip_ + ":" + std::to_string(port()) + "/" + name;
}

}  // namespace coracle::test
