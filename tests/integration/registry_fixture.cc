#include "registry_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "common/fs.h"

namespace coracle::test {

Background::Background(const std::vector<std::string>& argv, const std::string& log_file) {
  std::vector<std::string> args = argv;
  std::vector<char*> raw;
  for (auto& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    int log = open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(log, 1);
    dup2(log, 2);
    // Dies with the test process, whatever happens to it.
    setpgid(0, 0);
    execvp(raw[0], raw.data());
    _exit(127);
  }
}

Background& Background::operator=(Background&& o) noexcept {
  std::swap(pid_, o.pid_);
  return *this;
}

Background::~Background() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

int free_port() {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) < 0)
    throw_errno("cannot find a free port");
  close(s);
  return ntohs(a.sin_port);
}

bool wait_for_port(int port, int max_wait_ms) {
  return wait_for_address("127.0.0.1", port, max_wait_ms);
}

bool wait_for_address(const std::string& ip, int port, int max_wait_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_wait_ms);
  while (std::chrono::steady_clock::now() < until) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    a.sin_port = htons(static_cast<uint16_t>(port));
    int rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    close(s);
    if (rc == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

RegistryServer::RegistryServer(Auth auth, bool tls) : auth_(auth) {
  const std::string& d = dir_.path();
  port_ = free_port();
  std::string config =
      "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
      "    rootdirectory: " +
      d + "/data\n";
  config += "http:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n";
  if (tls) {
    // A CA that exists for this test only, and a server certificate for
    // 127.0.0.1 signed by it.
    run_sh("cd " + d +
           " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2"
           " -subj /CN=coracle-test-ca"
           " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
           " -subj /CN=127.0.0.1"
           " && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext"
           " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
           " -out server.pem -days 2 -extfile ext");
    ca_file_ = d + "/ca.pem";
    config += "  tls:\n    certificate: " + d + "/server.pem\n    key: " + d + "/server.key\n";
  }
  if (auth == Auth::kBasic) {
    run_sh("htpasswd -Bbn " + std::string(kUser) + " " + kPassword + " > " + d + "/htpasswd");
    config += "auth:\n  htpasswd:\n    realm: coracle-test\n    path: " + d + "/htpasswd\n";
  } else if (auth == Auth::kToken) {
    run_sh("cd " + d +
           " && openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.pem"
           " -days 2 -subj /CN=coracle-token");
    int token_port = free_port();
    token_server_ = Background({"python3", std::string(CORACLE_FIXTURES) + "/token_server.py",
                                std::to_string(token_port), d + "/token.key", d + "/token.pem",
                                "coracle-issuer", "coracle-registry", kUser, kPassword},
                               d + "/token.log");
    EXPECT_TRUE(wait_for_port(token_port)) << read_file(d + "/token.log");
    config += "auth:\n  token:\n    realm: http://127.0.0.1:" + std::to_string(token_port) +
              "/token\n    service: coracle-registry\n    issuer: coracle-issuer\n"
              "    rootcertbundle: " +
              d + "/token.pem\n";
  }
  write_file_atomic(d + "/config.yml", config);
  registry_ = Background({"docker-registry", "serve", d + "/config.yml"}, d + "/registry.log");
  if (!wait_for_port(port_))
    ADD_FAILURE() << "registry did not start: " << read_file(d + "/registry.log");
}

void RegistryServer::push(const std::string& src, const std::string& dest,
                          const std::string& extra) {
  std::string creds =
      auth_ == Auth::kNone ? "" : std::string(" --dest-creds ") + kUser + ":" + kPassword;
  run_sh("skopeo copy --quiet --dest-tls-verify=false" + creds + " " + extra + " " + src +
         " docker://" + host() + "/" + dest);
}

std::string RegistryServer::blob_path(const std::string& digest) const {
  std::string hex = digest.substr(7);
  return dir_.path() + "/data/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex +
         "/data";
}

void RegistryServer::write_docker_login(const std::string& home) const {
  mkdir_p(home + "/.docker");
  std::string auth = run_sh(std::string("printf %s ") + kUser + ":" + kPassword + " | base64 -w0");
  write_file_atomic(home + "/.docker/config.json",
                    "{\"auths\": {\"" + host() + "\": {\"auth\": \"" + auth + "\"}}}");
}

RegistryProxy::RegistryProxy(int target_port, long cut_after, long throttle) {
  port_ = free_port();
  std::vector<std::string> argv = {"python3", std::string(CORACLE_FIXTURES) + "/registry_proxy.py",
                                   std::to_string(port_), std::to_string(target_port),
                                   dir_.path() + "/requests.log"};
  if (cut_after) argv.insert(argv.end(), {"--cut-after", std::to_string(cut_after)});
  if (throttle) argv.insert(argv.end(), {"--throttle", std::to_string(throttle)});
  proc_ = Background(argv, dir_.path() + "/proxy.log");
  if (!wait_for_port(port_))
    ADD_FAILURE() << "proxy did not start: " << read_file(dir_.path() + "/proxy.log");
}

std::string RegistryProxy::log() const {
  try {
    return read_file(dir_.path() + "/requests.log");
  } catch (const Error&) {
    return "";
  }
}

std::string make_umoci_image(const std::string& dir, const std::string& hello) {
  // Layer 1: busybox, /gone, /dir/{old1,old2}. Layer 2: /gone deleted,
  // /dir emptied and given /dir/new, /hello written. umoci computes the
  // whiteouts from the bundle's changes, as a real build would.
  std::string b = dir + "/bundle";
  run_sh("set -e; umoci init --layout " + dir + "/layout && umoci new --image " + dir +
         "/layout:t && umoci unpack --image " + dir + "/layout:t " + b + " >/dev/null" +
         " && mkdir -p " + b + "/rootfs/bin " + b + "/rootfs/dir && cp /bin/busybox " + b +
         "/rootfs/bin/ && for a in sh cat ls test; do ln -sf busybox " + b +
         "/rootfs/bin/$a; done && echo g > " + b + "/rootfs/gone && echo 1 > " + b +
         "/rootfs/dir/old1 && echo 2 > " + b + "/rootfs/dir/old2 && umoci repack --image " + dir +
         "/layout:t " + b + " && rm -rf " + b + " && umoci unpack --image " + dir + "/layout:t " +
         b + " >/dev/null && rm " + b + "/rootfs/gone " + b + "/rootfs/dir/old1 " + b +
         "/rootfs/dir/old2 && echo n > " + b + "/rootfs/dir/new && printf '" + hello + "' > " + b +
         "/rootfs/hello && umoci repack --image " + dir + "/layout:t " + b +
         " && umoci config --image " + dir + "/layout:t --config.cmd cat --config.cmd /hello");
  return "oci:" + dir + "/layout:t";
}

}  // namespace coracle::test
