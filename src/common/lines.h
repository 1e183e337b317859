// Cutting a stream of bytes (a program's output, read in pieces) into lines.
#pragma once
#include <string>
#include <string_view>

namespace coracle {

class LineSplitter {
 public:
  // A line longer than this is handed on in pieces of it: a program that
  // never writes a newline must not grow the buffer without bound.
  static constexpr size_t kMaxLine = 64 * 1024;

  // Appends data and calls on_line(line) for each line it completes (without
  // its '\n'). Empty data means the stream ended: the unfinished last line,
  // if any, is handed on.
  template <class F>
  void feed(std::string_view data, F&& on_line) {
    if (data.empty()) {
      if (!partial_.empty()) on_line(std::string_view(partial_));
      partial_.clear();
      return;
    }
    while (!data.empty()) {
      size_t nl = data.find('\n');
      std::string_view piece = data.substr(0, nl);
      if (partial_.size() + piece.size() > kMaxLine) {
        size_t room = kMaxLine - partial_.size();
        partial_.append(piece.substr(0, room));
        on_line(std::string_view(partial_));
        partial_.clear();
        data.remove_prefix(room);
        continue;
      }
      partial_.append(piece);
      if (nl == std::string_view::npos) return;
      on_line(std::string_view(partial_));
      partial_.clear();
      data.remove_prefix(nl + 1);
    }
  }

 private:
  std::string partial_;
};

}  // namespace coracle
