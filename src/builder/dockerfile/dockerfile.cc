#include "builder/dockerfile/dockerfile.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "builder/dockerfile/shell_words.h"
#include "common/error.h"

namespace coracle::builder {

std::optional<std::string> Instruction::flag(std::string_view name) const {
  for (const auto& [key, value] : flags)
    if (key == name) return value;
  return std::nullopt;
}

namespace {

// The flags each instruction takes; an instruction missing here takes none.
const std::map<std::string, std::set<std::string>>& known_flags() {
  static const std::map<std::string, std::set<std::string>> flags = {
      {"FROM", {"platform"}},
      {"RUN", {"mount", "network", "security"}},
      {"COPY", {"from", "chown", "chmod", "link", "parents", "exclude"}},
      {"ADD", {"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"}},
      {"HEALTHCHECK", {"interval", "timeout", "start-period", "start-interval", "retries"}},
  };
  return flags;
}

const std::set<std::string>& known_instructions() {
  static const std::set<std::string> names = {
      "ADD",    "ARG",        "CMD",         "COPY",   "ENTRYPOINT", "ENV",
      "EXPOSE", "FROM",       "HEALTHCHECK", "LABEL",  "MAINTAINER", "RUN",
      "SHELL",  "STOPSIGNAL", "USER",        "VOLUME", "WORKDIR",    "ONBUILD"};
  return names;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_comment(std::string_view line) {
  line = trim(line);
  return !line.empty() && line[0] == '#';
}

class Parser {
 public:
  Parser(std::string_view text, std::string name) : name_(std::move(name)) {
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      lines_.push_back(line);
      start = end + 1;
    }
  }

  Dockerfile run() {
    directives();
    while (next_ < lines_.size()) {
      std::string_view line = lines_[next_];
      if (trim(line).empty() || is_comment(line)) {
        ++next_;
        continue;
      }
      out_.instructions.push_back(instruction());
    }
    check_first_is_from();
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(int line, const std::string& message) const {
    throw Error(name_ + ":" + std::to_string(line) + ": " + message);
  }

  // `# key=value` lines at the very top; the first line that is not one
  // (a comment, an empty line, an instruction) ends them.
  void directives() {
    std::set<std::string> seen;
    for (; next_ < lines_.size(); ++next_) {
      std::string_view line = trim(lines_[next_]);
      if (line.empty() || line[0] != '#') return;
      std::string_view body = trim(line.substr(1));
      size_t eq = body.find('=');
      if (eq == std::string_view::npos) return;
      std::string key = lower(std::string(trim(body.substr(0, eq))));
      std::string value(trim(body.substr(eq + 1)));
      if (key != "escape" && key != "syntax" && key != "check") return;  // a comment
      if (!seen.insert(key).second)
        fail(static_cast<int>(next_ + 1), "only one " + key + " directive");
      if (key == "escape") {
        if (value != "\\" && value != "`")
          fail(static_cast<int>(next_ + 1), "escape must be \\ or `, not '" + value + "'");
        out_.escape = value[0];
      } else if (key == "syntax") {
        out_.syntax = value;
      }
    }
  }

  // BuildKit's rule: the line ends (spaces and tabs aside) with the escape
  // character, and that one is not itself escaped: `ENV C a\\` ends its
  // instruction (its value ends in a backslash).
  bool continues(std::string_view line) const {
    line = trim(line);
    if (line.empty() || line.back() != out_.escape) return false;
    return line.size() == 1 || line[line.size() - 2] != out_.escape;
  }

  Instruction instruction() {
    Instruction ins;
    ins.line = static_cast<int>(next_ + 1);
    std::string joined;
    for (;;) {
      std::string_view line = lines_[next_++];
      if (!continues(line)) {
        joined += line;
        break;
      }
      // Its leading white space stays (it is part of the command); the
      // trailing escape character goes.
      std::string_view body = line;
      while (std::isspace(static_cast<unsigned char>(body.back()))) body.remove_suffix(1);
      body.remove_suffix(1);
      joined += body;
      // Comment and empty lines inside a continued instruction are skipped.
      while (next_ < lines_.size() && (is_comment(lines_[next_]) || trim(lines_[next_]).empty()))
        ++next_;
      if (next_ >= lines_.size()) break;
    }
    std::string_view text = trim(joined);
    ins.text = std::string(text);
    size_t space = text.find_first_of(" \t");
    ins.keyword = upper(std::string(text.substr(0, space)));
    std::string_view rest = space == std::string_view::npos ? "" : trim(text.substr(space));

    if (!known_instructions().count(ins.keyword))
      fail(ins.line, "unknown instruction: " + std::string(text.substr(0, space)));
    if (ins.keyword == "ONBUILD") {
      // A trigger for images built FROM this one: an instruction of its
      // own, checked now, kept as text (in the config's OnBuild).
      if (rest.empty()) fail(ins.line, "ONBUILD needs an instruction");
      std::string inner = upper(std::string(rest.substr(0, rest.find_first_of(" \t"))));
      if (inner == "ONBUILD" || inner == "FROM" || inner == "MAINTAINER")
        fail(ins.line, inner + " isn't allowed as an ONBUILD trigger");
      if (!known_instructions().count(inner))
        fail(ins.line, "unknown instruction in ONBUILD: " + inner);
      ins.args = std::string(rest);
      return ins;
    }
    rest = take_flags(ins, rest);
    if (rest.empty()) fail(ins.line, ins.keyword + " needs an argument");
    ins.args = std::string(rest);
    if (rest.front() == '[') {
      // JSON that is not an array of strings is an error, as in BuildKit;
      // what is not JSON at all is the shell form.
      auto json = nlohmann::json::parse(rest, nullptr, false);
      if (json.is_array()) {
        if (!std::all_of(json.begin(), json.end(), [](const auto& v) { return v.is_string(); }))
          fail(ins.line, "when using JSON array syntax, arrays must be comprised of strings only");
        ins.exec_form = json.get<std::vector<std::string>>();
      }
    }
    if (ins.keyword == "SHELL" && !ins.exec_form)
      fail(ins.line, "SHELL takes a JSON array, e.g. SHELL [\"/bin/sh\", \"-c\"]");
    if (!ins.exec_form && (ins.keyword == "RUN" || ins.keyword == "COPY" || ins.keyword == "ADD"))
      heredocs(ins);
    return ins;
  }

  // Leading --name[=value] words, for the instructions that take them.
  std::string_view take_flags(Instruction& ins, std::string_view rest) {
    auto allowed = known_flags().find(ins.keyword);
    while (rest.size() >= 2 && rest.substr(0, 2) == "--") {
      size_t end = rest.find_first_of(" \t");
      if (end == 2 || rest.size() == 2) {  // "--" ends the flags, as in BuildKit
        rest = end == std::string_view::npos ? "" : trim(rest.substr(end));
        break;
      }
      std::string_view word = rest.substr(2, end == std::string_view::npos ? rest.npos : end - 2);
      size_t eq = word.find('=');
      std::string key(word.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : std::string(word.substr(eq + 1));
      if (allowed == known_flags().end() || !allowed->second.count(key))
        fail(ins.line, ins.keyword + " has no flag --" + key);
      ins.flags.emplace_back(key, value);
      rest = end == std::string_view::npos ? "" : trim(rest.substr(end));
    }
    return rest;
  }

  // Each <<WORD (<<-WORD strips leading tabs, a quoted WORD is not
  // expanded) takes the lines after the instruction up to WORD alone.
  // BuildKit's reading: the arguments split into words (quotes kept),
  // each word matched against [fd]<<[-]rest, and rest read as shell words:
  // exactly one word makes a heredoc named by it (<<eo'f' is "eof",
  // <<'one two' is "one two"), expanded only when rest had no quotes or
  // escapes. "<<  EOF" is two words, and so no heredoc.
  void heredocs(Instruction& ins) {
    ShellWords words(out_.escape);
    std::vector<std::string> raw_words;
    try {
      raw_words = words.split(ins.args);
    } catch (const Error&) {
      return;  // an unterminated quote: the shell's business, not a heredoc
    }
    for (const auto& word : raw_words) {
      size_t i = 0;
      while (i < word.size() && std::isdigit(static_cast<unsigned char>(word[i]))) ++i;
      if (word.compare(i, 2, "<<") != 0) continue;
      i += 2;
      bool strip_tabs = i < word.size() && word[i] == '-';
      if (strip_tabs) ++i;
      std::string rest = word.substr(i);
      if (rest.find('<') != std::string::npos) continue;
      std::vector<std::string> names;
      try {
        names = words.expand_words(rest, [](const std::string&) { return std::nullopt; });
      } catch (const Error&) {
        continue;
      }
      if (names.size() != 1 || names[0].empty()) continue;
      Heredoc doc;
      doc.name = names[0];
      doc.expand = names[0] == rest;
      read_heredoc_body(ins, doc, strip_tabs);
      ins.heredocs.push_back(std::move(doc));
    }
  }

  void read_heredoc_body(const Instruction& ins, Heredoc& doc, bool strip_tabs) {
    for (; next_ < lines_.size(); ++next_) {
      std::string_view line = lines_[next_];
      if (strip_tabs) line.remove_prefix(std::min(line.find_first_not_of('\t'), line.size()));
      if (line == doc.name) {
        ++next_;
        return;
      }
      doc.content.append(line);
      doc.content += '\n';
    }
    fail(ins.line, "heredoc " + doc.name + " is not terminated (a line with " + doc.name +
                       " alone must end it)");
  }

  void check_first_is_from() {
    for (const auto& ins : out_.instructions) {
      if (ins.keyword == "FROM") return;
      if (ins.keyword != "ARG")
        fail(ins.line, ins.keyword +
                           " before FROM: a Dockerfile starts with FROM (ARG may "
                           "come before it)");
    }
    fail(static_cast<int>(lines_.size()), "no FROM instruction");
  }

  std::string name_;
  std::vector<std::string_view> lines_;
  size_t next_ = 0;
  Dockerfile out_;
};

}  // namespace

Dockerfile parse_dockerfile(std::string_view text, const std::string& name) {
  return Parser(text, name).run();
}

}  // namespace coracle::builder
