#include "image/credential_helper.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "common/unique_fd.h"

namespace coracle::image {
namespace {

constexpr auto kTimeout = std::chrono::seconds(30);
constexpr size_t kMaxOutput = 64 * 1024;

bool valid_helper_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

}  // namespace

std::optional<Credential> run_credential_helper(const std::string& name,
                                                const std::string& server) {
  // A name, not a path: the helper is found in PATH as docker finds it.
  if (!valid_helper_name(name))
    throw Error("credential helper '" + name + "': not a helper name (letters, digits, - _ .)");
  std::string program = "docker-credential-" + name;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
    throw_errno("pipe");
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  pid_t pid = fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    dup2(in_r.get(), 0);
    dup2(out_w.get(), 1);
    dup2(err_w.get(), 2);
    char* argv[] = {program.data(), const_cast<char*>("get"), nullptr};
    execvp(argv[0], argv);
    _exit(127);
  }
  in_r.reset();
  out_w.reset();
  err_w.reset();
  std::string request = server + "\n";
  {
    SigpipeBlocked quiet;  // a helper that exits without reading
    (void)!write(in_w.get(), request.data(), request.size());
  }
  in_w.reset();
  // stdout holds the answer (the secret); stderr is what may be quoted.
  std::string answer, complaint;
  bool timed_out =
      !read_both_until(out_r.get(), err_r.get(), answer, complaint, kTimeout, kMaxOutput);
  if (timed_out || answer.size() > kMaxOutput || complaint.size() > kMaxOutput) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) throw Error(program + " get did not answer within 30 s");
  if (answer.size() > kMaxOutput || complaint.size() > kMaxOutput)
    throw Error(program + " get answered more than 64 KiB");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    throw Error(program + " (the credential helper the config names) is not in PATH");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // docker's helpers say this one thing for "nothing stored" (on stdout).
    if (answer.find("credentials not found") != std::string::npos ||
        complaint.find("credentials not found") != std::string::npos)
      return std::nullopt;
    // Never stdout: a helper that failed half way may have printed the
    // secret there.
    while (!complaint.empty() && (complaint.back() == '\n' || complaint.back() == ' '))
      complaint.pop_back();
    std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + std::to_string(WTERMSIG(status));
    throw Error(program + " get failed (" + how + ")" +
                (complaint.empty() ? "" : ": " + complaint.substr(0, 200)));
  }
  auto j = nlohmann::json::parse(answer, nullptr, false);
  if (!j.is_object() || !j.contains("Secret") || !j["Secret"].is_string())
    throw Error(program + " get answered something other than {\"Username\", \"Secret\"}");
  Credential c{j.value("Username", ""), j["Secret"].get<std::string>()};
  if (c.username.empty() && c.password.empty()) return std::nullopt;
  return c;
}

}  // namespace coracle::image
