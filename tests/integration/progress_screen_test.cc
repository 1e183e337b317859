// What a person sees on a terminal while coracle works: coracle runs on
// the slave side of a real pty of 70 columns, and everything it writes is
// played into a small terminal model (cursor moves, erase, wrap), one
// frame per read. The first, a middle and the last frame of a first exec's
// layer unpack and of a build are checked, and that no frame ever wraps a
// line or leaves an old copy of a redrawn one behind.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>

#include "common/fs.h"
#include "common/parse.h"
#include "harness.h"

namespace coracle::test {
namespace {

constexpr int kColumns = 70;

// The subset of a VT100 coracle uses: printable UTF-8, \r, \n, ESC[nA,
// ESC[K, ESC[J and SGR (ignored). A character past the last column wraps,
// which is recorded: a progress line must never wrap.
class Screen {
 public:
  void feed(const std::string& bytes) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(bytes[i]);
      if (c == 0x1b && i + 1 < bytes.size() && bytes[i + 1] == '[') {
        size_t j = i + 2;
        while (j < bytes.size() && !(bytes[j] >= '@' && bytes[j] <= '~')) ++j;
        if (j >= bytes.size()) break;
        std::string param = bytes.substr(i + 2, j - i - 2);
        csi(bytes[j], param.empty() ? 1 : atoi(param.c_str()), param);
        i = j;
      } else if (c == '\r') {
        col_ = 0;
      } else if (c == '\n') {
        ++row_;
      } else if (c >= 0x20 && (c & 0xc0) != 0x80) {
        size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        put(bytes.substr(i, len));
        i += len - 1;
      }
    }
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const auto& cells : cells_) {
      std::string line;
      for (const auto& c : cells) line += c.empty() ? " " : c;
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out.push_back(line);
    }
    while (!out.empty() && out.back().empty()) out.pop_back();
    return out;
  }
  std::string text() const {
    std::string t;
    for (const auto& l : lines()) t += l + "\n";
    return t;
  }
  // The lines that were too long and wrapped, as they were then.
  const std::vector<std::string>& wrapped() const { return wrapped_; }

 private:
  std::vector<std::string>& line(size_t r) {
    if (cells_.size() <= r) cells_.resize(r + 1);
    return cells_[r];
  }
  void put(const std::string& ch) {
    if (col_ >= kColumns) {
      std::string text;
      for (const auto& c : cells_[row_]) text += c;
      wrapped_.push_back(text);
      col_ = 0;
      ++row_;
    }
    auto& l = line(row_);
    if (l.size() <= static_cast<size_t>(col_)) l.resize(col_ + 1);
    l[col_++] = ch;
  }
  void csi(char final, int n, const std::string&) {
    if (final == 'A') row_ = std::max(0, row_ - n);
    if (final == 'K' && static_cast<size_t>(row_) < cells_.size() &&
        cells_[row_].size() > static_cast<size_t>(col_))
      cells_[row_].resize(col_);
    if (final == 'J') {
      if (static_cast<size_t>(row_) < cells_.size()) {
        if (cells_[row_].size() > static_cast<size_t>(col_)) cells_[row_].resize(col_);
        cells_.resize(row_ + 1);
      }
    }
  }
  std::vector<std::vector<std::string>> cells_;
  int row_ = 0, col_ = 0;
  std::vector<std::string> wrapped_;
};

struct Played {
  std::vector<std::string> frames;  // the screen after each read
  std::vector<std::string> wrapped;
  int exit_code = -1;
};

// Runs coracle ARGS with stdin, stdout and stderr on a pty of kColumns.
Played play(const std::vector<std::string>& args) {
  struct winsize ws {};
  ws.ws_row = 40;
  ws.ws_col = kColumns;
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, &ws);
  if (pid == 0) {
    std::vector<char*> argv = {const_cast<char*>(CORACLE_BIN)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(CORACLE_BIN, argv.data());
    _exit(127);
  }
  Played p;
  Screen screen;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < until) {
    struct pollfd pfd = {master, POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    char buf[4096];
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO: every holder of the slave is gone
    screen.feed(std::string(buf, static_cast<size_t>(n)));
    p.frames.push_back(screen.text());
  }
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  p.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  p.wrapped = screen.wrapped();
  return p;
}

// done and total of the first bar "[##..] 1.0 MiB / 23.5 MiB" on the screen
// whose line has what.
bool bar_amounts(const std::string& frame, const std::string& what, double* done, double* total) {
  std::regex re(R"(\[[#.]+\] +([0-9.]+) (B|KiB|MiB) / ([0-9.]+) (B|KiB|MiB))");
  auto scale = [](const std::string& unit) {
    return unit == "MiB" ? 1048576.0 : unit == "KiB" ? 1024.0 : 1.0;
  };
  for (const auto& l : split(frame, '\n')) {
    std::smatch m;
    if (l.find(what) == std::string::npos || !std::regex_search(l, m, re)) continue;
    *done = std::stod(m[1]) * scale(m[2]);
    *total = std::stod(m[3]) * scale(m[4]);
    return true;
  }
  return false;
}

TEST(ProgressScreen, AFirstExecShowsTheUnpackAsABarThatFitsTheTerminal) {
  TempDir work, store;
  // Many small files: inode creation is the slow part of an unpack.
  make_layout(work.path() + "/many",
              {{"tag", "t"},
               {"layers",
                {{{{"name", "many"}, {"type", "dir"}},
                  {{"name", "many/f"}, {"copies", 4000}, {"random", 8192}}}}},
               {"cmd", {"/none"}}});
  auto r = coracle(
      {"--root", store.path(), "image", "import", work.path() + "/many", "--tag", "tests/many:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  Played p = play({"--root", store.path(), "exec", "tests/many:1", "--", "/bin/none"});
  EXPECT_EQ(p.exit_code, 127);  // the image has no /bin/none: after the unpack
  ASSERT_FALSE(p.frames.empty());
  EXPECT_TRUE(p.wrapped.empty()) << p.wrapped[0];
  // Start: the image named, its one layer at 0 of its size.
  double done = -1, total = -1;
  size_t first = 0;
  while (first < p.frames.size() && !bar_amounts(p.frames[first], "layer 1/1", &done, &total))
    ++first;
  ASSERT_LT(first, p.frames.size()) << p.frames.back();
  EXPECT_NE(p.frames[first].find("unpacking tests/many:1"), std::string::npos) << p.frames[first];
  EXPECT_EQ(done, 0) << p.frames[first];
  EXPECT_GT(total, 30.0 * 1048576) << p.frames[first];
  EXPECT_NE(p.frames[first].find("unpacking"), std::string::npos);
  // Middle: the same bar, part-way, redrawn in place (one line for it).
  bool middle = false;
  for (const auto& f : p.frames) {
    if (!bar_amounts(f, "layer 1/1", &done, &total) || done <= 0 || done >= total) continue;
    middle = true;
    EXPECT_EQ(count_occurrences(f, "layer 1/1"), 1) << f;
  }
  EXPECT_TRUE(middle) << "no frame showed the unpack part-way";
  // End: the bar full and done, still one line, then coracle's message.
  const std::string& last = p.frames.back();
  ASSERT_TRUE(bar_amounts(last, "layer 1/1", &done, &total)) << last;
  EXPECT_EQ(done, total) << last;
  EXPECT_NE(last.find("done "), std::string::npos) << last;
  EXPECT_EQ(count_occurrences(last, "layer 1/1"), 1) << last;
  EXPECT_NE(last.find("/bin/none: command not found"), std::string::npos) << last;
  for (const auto& l : split(last, '\n')) EXPECT_LT(l.size(), 200u);

  // A second exec unpacks nothing and shows nothing; -q shows nothing.
  p = play({"--root", store.path(), "exec", "tests/many:1", "--", "/bin/none"});
  EXPECT_EQ(p.frames.back().find("unpacking"), std::string::npos) << p.frames.back();
}

TEST(ProgressScreen, ABuildShowsTheRunningStepItsTimeAndItsLastLines) {
  TempDir work, store;
  write_file_atomic(work.path() + "/Dockerfile",
                    "FROM default\n"
                    "RUN for i in 1 2 3 4 5 6 7 8 9 10; do echo output-line-$i; sleep 0.15; "
                    "done\n"
                    "RUN echo a very long line of output that is much wider than the seventy "
                    "columns of this terminal, cut rather than wrapped && sleep 0.5\n");
  Played p = play(
      {"--root", store.path(), "build", "--progress", "tty", "-t", "tests/screen", work.path()});
  EXPECT_EQ(p.exit_code, 0) << p.frames.back();
  // Only the digest on stdout (71 characters) may wrap: it is the result,
  // not the view.
  for (const auto& w : p.wrapped) EXPECT_EQ(w.rfind("sha256:", 0), 0u) << w;
  // Start: the first RUN is the running step, with its elapsed time.
  std::regex running(R"(\[2/3\] RUN for i in .* +[0-9]+\.[0-9]s)");
  size_t start = 0;
  while (start < p.frames.size() && !std::regex_search(p.frames[start], running)) ++start;
  ASSERT_LT(start, p.frames.size()) << p.frames.back();
  // Middle: its last lines of output under it (at most six), dimmed and
  // indented, and the elapsed time ticking.
  bool middle = false;
  for (size_t i = start; i < p.frames.size(); ++i) {
    const std::string& f = p.frames[i];
    if (f.find("| output-line-8") == std::string::npos) continue;
    middle = true;
    EXPECT_EQ(f.find("| output-line-1\n"), std::string::npos) << f;  // only the last six
    EXPECT_NE(f.find("| output-line-3"), std::string::npos) << f;
    break;
  }
  EXPECT_TRUE(middle) << p.frames.back();
  bool long_line_cut = false;
  for (const auto& f : p.frames)
    long_line_cut |= f.find("| a very long line of output") != std::string::npos &&
                     f.find("...") != std::string::npos;
  EXPECT_TRUE(long_line_cut);
  // End: each step one line with its time, no output left, the digest.
  const std::string& last = p.frames.back();
  EXPECT_EQ(last.find("| output-line"), std::string::npos) << last;
  EXPECT_TRUE(std::regex_search(last, std::regex(R"(\[2/3\] RUN for i in .* [0-9]\.[0-9]s)")))
      << last;
  EXPECT_TRUE(
      std::regex_search(last, std::regex(R"(\[3/3\] RUN echo a very long.* [0-9]\.[0-9]s)")))
      << last;
  EXPECT_TRUE(std::regex_search(last, std::regex("sha256:[0-9a-f]{63}\n[0-9a-f]\n"))) << last;
  for (const auto& l : split(last, '\n')) EXPECT_LE(l.size(), 4u * kColumns) << l;
}

TEST(ProgressScreen, QuietShowsNoProgress) {
  TempDir work, store;
  make_layout(work.path() + "/small", {{"tag", "t"}, {"layers", {busybox_layer()}}});
  ASSERT_EQ(coracle({"--root", store.path(), "image", "import", work.path() + "/small", "--tag",
                     "tests/small:1"})
                .exit_code,
            0);
  Played p = play({"--root", store.path(), "exec", "-q", "tests/small:1", "--", "echo", "hi"});
  EXPECT_EQ(p.exit_code, 0);
  EXPECT_EQ(p.frames.back(), "hi\n");
}

}  // namespace
}  // namespace coracle::test
