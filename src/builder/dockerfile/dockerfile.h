// A Dockerfile read into instructions, as BuildKit's parser reads it:
// parser directives (syntax, escape) at the very top, comment lines
// dropped (also inside continued instructions), the escape character at a
// line's end continuing it, exec (JSON) or shell form, --flags, and
// heredocs (<<EOF, <<-EOF, <<"EOF") for RUN, COPY and ADD. Nothing is
// expanded here: which words get $VAR expansion depends on the instruction
// and on the build's ARG/ENV scope (shell_words.h).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coracle::builder {

struct Heredoc {
  std::string name;     // the delimiter word
  std::string content;  // every line up to the delimiter, each with its '\n'
  bool expand = true;   // false when the delimiter was quoted
};

struct Instruction {
  int line = 0;         // where it starts, 1-based
  std::string keyword;  // upper case: "RUN"
  std::string text;     // as written, continuations joined: for created_by
  std::vector<std::pair<std::string, std::string>> flags;  // --name=value (value "" for --name)
  std::string args;  // what follows the keyword and flags (shell form)
  std::optional<std::vector<std::string>> exec_form;  // a JSON array of strings
  std::vector<Heredoc> heredocs;
  // The value of --name, if given.
  std::optional<std::string> flag(std::string_view name) const;
};

struct Dockerfile {
  char escape = '\\';
  std::string syntax;  // the `# syntax=` directive, if any (noted, not obeyed)
  std::vector<Instruction> instructions;
};

// Throws coracle::Error("NAME:LINE: message") for an unknown instruction,
// ONBUILD, a missing argument, a bad flag, an unterminated heredoc, or a
// file that does not start with FROM (after ARGs).
Dockerfile parse_dockerfile(std::string_view text, const std::string& name = "Dockerfile");

}  // namespace coracle::builder
