// .dockerignore, as docker and BuildKit read it: one pattern a line, `#`
// comments, `!` for exceptions, the last matching line decides. Patterns
// are paths relative to the context (a leading '/' means the same), with
// `*` and `?` inside one path element (characters, not bytes: UTF-8),
// `[...]` classes, `\` escapes and `**` for any number of elements. A path is excluded when a
// pattern matches it or one of its parent directories.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace coracle::builder {

class DockerIgnore {
 public:
  DockerIgnore() = default;
  // Throws coracle::Error for a pattern BuildKit refuses (a lone "!", an
  // unclosed "[" class, a trailing escape).
  explicit DockerIgnore(std::string_view text);

  // path: relative to the context, '/'-separated, no leading "./".
  bool excluded(std::string_view path) const;
  // Whether an exception could bring back something below the directory
  // dir (excluded itself): the walk must then look inside it ("docs" with
  // "!docs/README.md").
  bool may_include_under(std::string_view dir) const;

 private:
  struct Rule {
    std::string pattern;
    bool exception = false;
  };
  std::vector<Rule> rules_;
  bool has_exceptions_ = false;
};

// Go filepath.Match semantics plus `**`; exposed for tests.
bool glob_match(std::string_view pattern, std::string_view path);

}  // namespace coracle::builder
