// exec -t/-i through a real pty pair, as a person at a terminal would use
// it: the command's own tty, TERM, the size and its changes, Ctrl-C to the
// foreground job (not coracle), Ctrl-Z and job control, the exit status,
// and the user's terminal given back as it was.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "common/fs.h"
#include "harness.h"

namespace coracle::test {
namespace {

using Clock = std::chrono::steady_clock;

// coracle exec -t -i -- sh on the slave side of a pty the test holds.
class Terminal {
 public:
  Terminal(const std::string& store, std::vector<std::string> args) {
    struct winsize ws {};
    ws.ws_row = 33;
    ws.ws_col = 101;
    pid_ = forkpty(&master_, nullptr, nullptr, &ws);
    if (pid_ == 0) {
      setenv("CORACLE_ROOT", store.c_str(), 1);
      setenv("TERM", "xterm-coracle-test", 1);
      std::vector<char*> argv = {const_cast<char*>(CORACLE_BIN)};
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(CORACLE_BIN, argv.data());
      _exit(127);
    }
  }
  ~Terminal() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) close(master_);
  }
  void type(const std::string& text) { (void)!write(master_, text.data(), text.size()); }
  // Everything read until text shows (or 10 s pass).
  std::string expect(const std::string& text) {
    auto until = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < until && seen_.find(text) == std::string::npos) {
      struct pollfd p = {master_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = read(master_, buf, sizeof buf);
      if (n <= 0) break;
      seen_.append(buf, static_cast<size_t>(n));
    }
    auto at = seen_.find(text);
    std::string got = seen_;
    seen_ = at == std::string::npos ? "" : seen_.substr(at + text.size());
    return got;
  }
  int master() const { return master_; }
  pid_t pid() const { return pid_; }
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  int master_ = -1;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string seen_;
};

TEST(TerminalTest, AShellAtATerminalWorksAsAtAnyOther) {
  TempDir store;
  Terminal t(store.path(), {"exec", "-t", "-i", "--", "sh"});
  ASSERT_NE(t.expect("/ # ").find("/ # "), std::string::npos);
  // coracle has put the user's terminal in raw mode for the session.
  struct termios during;
  ASSERT_EQ(tcgetattr(t.master(), &during), 0);
  EXPECT_EQ(during.c_lflag & (ICANON | ECHO | ISIG), 0u);
  t.type("tty; echo T=$TERM; stty size\n");
  std::string out = t.expect("/ # ");
  EXPECT_NE(out.find("/dev/pts/0"), std::string::npos) << out;  // the sandbox's own devpts
  EXPECT_NE(out.find("T=xterm-coracle-test"), std::string::npos) << out;
  EXPECT_NE(out.find("33 101"), std::string::npos) << out;
  // Ctrl-C ends the foreground job, not coracle.
  t.type("sleep 100\n");
  usleep(300000);
  t.type("\x03");
  out = t.expect("/ # ");
  EXPECT_NE(out.find("^C"), std::string::npos) << out;
  t.type("echo still-here\n");
  EXPECT_NE(t.expect("/ # ").find("still-here"), std::string::npos);
  // Ctrl-Z stops the job (not coracle); the shell's job control sees it.
  t.type("sleep 101\n");
  usleep(300000);
  t.type("\x1a");
  t.expect("/ # ");
  t.type("sleep 102 &\n");
  t.expect("/ # ");
  t.type("jobs\n");
  out = t.expect("/ # ");
  EXPECT_NE(out.find("Stopped"), std::string::npos) << out;
  EXPECT_NE(out.find("Running"), std::string::npos) << out;
  // The window changes size: the command sees it.
  struct winsize ws {};
  ws.ws_row = 40;
  ws.ws_col = 120;
  ioctl(t.master(), TIOCSWINSZ, &ws);
  kill(t.pid(), SIGWINCH);
  usleep(200000);
  t.type("stty size\n");
  t.expect("stty size");  // the shell may redraw its prompt first
  out = t.expect("/ # ");
  EXPECT_NE(out.find("40 120"), std::string::npos) << out;
  t.type("kill -9 %1 %2 2>/dev/null; wait; exit 3\n");
  EXPECT_EQ(t.wait(), 3);
  // The user's terminal is as it was before (a new pty's cooked mode).
  struct termios after;
  ASSERT_EQ(tcgetattr(t.master(), &after), 0);
  EXPECT_EQ(after.c_lflag & (ICANON | ECHO | ISIG), static_cast<tcflag_t>(ICANON | ECHO | ISIG));
}

TEST(TerminalTest, WithoutATerminalNothingChanges) {
  // No -t: no controlling terminal (TIOCSTI stays impossible), no TERM.
  auto r = coracle({"exec", "--", "sh", "-c", "tty; echo T=${TERM:-none}"});
  EXPECT_EQ(r.out, "not a tty\nT=none\n");
}

// What a terminal shows of a chunk of output: escape sequences removed,
// each physical line (ended by \r or \n) as it would be drawn.
std::vector<std::string> drawn_lines(const std::string& raw) {
  std::vector<std::string> lines(1);
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\x1b' && i + 1 < raw.size() && raw[i + 1] == '[') {
      i += 2;
      while (i < raw.size() && !(raw[i] >= '@' && raw[i] <= '~')) ++i;
    } else if (raw[i] == '\r' || raw[i] == '\n') {
      lines.emplace_back();
    } else {
      lines.back() += raw[i];
    }
  }
  return lines;
}

TEST(TerminalTest, BuildShowsTheRunningStepLiveAndFitsTheWindow) {
  TempDir store, context;
  write_file_atomic(context.path() + "/Dockerfile",
                    "FROM default\n"
                    "RUN for i in 1 2 3 4 5 6 7 8 9; do echo \"line $i of a step whose output is "
                    "longer than the terminal is wide, so it must be cut to fit\"; sleep 0.1; "
                    "done\n"
                    "COPY Dockerfile /\n");
  Terminal t(store.path(), {"build", "-t", "tests/live", context.path()});
  std::string out = t.expect("tagged");
  EXPECT_EQ(t.wait(), 0);
  // Redrawn in place (cursor up, clear), the output's last lines under the
  // running step, each finished step left as one line with its time.
  EXPECT_NE(out.find("\x1b[J"), std::string::npos) << out;
  EXPECT_NE(out.find("A\r\x1b[J[2/3] RUN for i in"), std::string::npos) << out;
  auto lines = drawn_lines(out);
  EXPECT_NE(
      std::find_if(lines.begin(), lines.end(),
                   [](const std::string& l) { return l.rfind("  | line 9 of a step", 0) == 0; }),
      lines.end());
  EXPECT_NE(std::find_if(lines.begin(), lines.end(),
                         [](const std::string& l) {
                           return l.rfind("[3/3] COPY Dockerfile /  ", 0) == 0 && l.back() == 's';
                         }),
            lines.end());
  // Nothing wraps in a 101-column window (a wrapped line breaks the redraw).
  for (const auto& l : lines) EXPECT_LE(l.size(), 100u) << l;

  // --progress plain: the same steps as plain lines, no escapes at all.
  Terminal plain(store.path(), {"build", "--progress", "plain", "--no-cache", "-t", "tests/live",
                                context.path()});
  out = plain.expect("tagged");
  EXPECT_EQ(plain.wait(), 0);
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  EXPECT_NE(out.find("[2/3] RUN for i in"), std::string::npos) << out;
  EXPECT_NE(out.find("line 9 of a step whose output is longer than the terminal is wide, so it"),
            std::string::npos);
  EXPECT_EQ(coracle({"build", "--progress", "fancy", context.path()}).exit_code, 125);
}

}  // namespace
}  // namespace coracle::test
