// The word processing a Dockerfile applies to instruction arguments (ENV,
// ARG, LABEL, COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, FROM),
// as BuildKit does it: quotes, the escape character, and $VAR, ${VAR},
// ${VAR:-word}, ${VAR-word}, ${VAR:+word}, ${VAR+word}, ${VAR:?msg},
// ${VAR?msg}, ${VAR#pat}, ${VAR##pat}, ${VAR%pat}, ${VAR%%pat},
// ${VAR/pat/repl}, ${VAR//pat/repl}; $1 and $@-style parameters are one
// character and never set. RUN, CMD and ENTRYPOINT are not processed: their shell does.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coracle::builder {

class ShellWords {
 public:
  // A variable's value, or nothing when it is not set.
  using Lookup = std::function<std::optional<std::string>(const std::string& name)>;

  explicit ShellWords(char escape = '\\') : escape_(escape) {}

  // One word: quotes removed, escapes resolved, variables expanded.
  // Throws coracle::Error for an unterminated quote or ${, or a ${VAR?msg}
  // whose variable is unset.
  std::string expand(std::string_view word, const Lookup& env) const;
  // A here-document's body: variables expanded, quotes kept as text.
  std::string expand_heredoc(std::string_view text, const Lookup& env) const;
  // Splits on whitespace outside quotes, then expands each word; the value
  // of an unquoted variable is split again at its white space (BuildKit
  // splits after substituting: EXPOSE $PORTS with PORTS="80 443/udp" is two
  // ports, "$PORTS" one word). A word without quotes that expands to
  // nothing is dropped, as a shell does.
  std::vector<std::string> expand_words(std::string_view text, const Lookup& env) const;
  // Splits on whitespace outside quotes, keeping quotes and escapes (for
  // KEY=VALUE lists, where the key is cut off before the value is expanded).
  std::vector<std::string> split(std::string_view text) const;

 private:
  char escape_;
};

}  // namespace coracle::builder
