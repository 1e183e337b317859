#include "port_app.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace coracle::test {

PortApp::PortApp(const std::vector<std::string>& flags, const RunOptions& options) {
  std::vector<std::string> args = {"exec", "--json", "-v",
                                   std::string(port_probe()) + ":/port_probe:ro"};
  args.insert(args.end(), flags.begin(), flags.end());
  args.insert(args.end(), {"--", "/port_probe"});
  pid_ = spawn_coracle(args, &in_, &out_, options);
}

PortApp::~PortApp() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    wait_coracle(pid_);
  }
  if (in_ >= 0) close(in_);
  if (out_ >= 0) close(out_);
}

void PortApp::read_some(int timeout_ms) {
  struct pollfd p = {out_, POLLIN, 0};
  if (eof_ || poll(&p, 1, timeout_ms) <= 0) return;
  char buf[65536];
  ssize_t n = read(out_, buf, sizeof buf);
  if (n <= 0) {
    eof_ = true;
    return;
  }
  partial_.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = partial_.find('\n')) != std::string::npos) {
    std::string line = partial_.substr(0, nl);
    partial_.erase(0, nl + 1);
    // The probe's own output comes as log events of the stream; its
    // answers are the lines that start with "probe ".
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      ADD_FAILURE() << "a line of exec --json that is no event: " << line;
    } else if (j.value("event", "") == "log") {
      std::string text = j.value("line", "");
      if (text.rfind("probe ", 0) == 0) answers_.push_back(text.substr(6));
    } else {
      events_.push_back(j);
    }
  }
}

std::string PortApp::send(const std::string& command) {
  std::string text = command + "\n";
  EXPECT_EQ(write(in_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (answers_.empty() && !eof_ && std::chrono::steady_clock::now() < deadline) read_some(100);
  if (answers_.empty()) {
    ADD_FAILURE() << "no answer from the probe to '" << command << "'";
    return "";
  }
  std::string answer = answers_.front();
  answers_.pop_front();
  return answer;
}

bool PortApp::wait_for(const std::function<bool(const Events&)>& done, int max_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
  while (!done(events_)) {
    if (eof_ || std::chrono::steady_clock::now() >= deadline) return false;
    read_some(50);
  }
  return true;
}

PortApp::Events PortApp::of_kind(const std::string& kind) const {
  Events out;
  for (const auto& e : events_)
    if (e.value("event", "") == kind) out.push_back(e);
  return out;
}

int PortApp::finish(int code) {
  std::string text = "exit " + std::to_string(code) + "\n";
  (void)!write(in_, text.data(), text.size());
  close(in_);
  in_ = -1;
  while (!eof_) read_some(1000);
  exited_ = true;
  return wait_coracle(pid_);
}

uint16_t free_host_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

int connect_tcp(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace coracle::test
