#include "builder/dockerfile/shell_words.h"

#include <fnmatch.h>

#include <cctype>

#include "common/error.h"

namespace coracle::builder {
namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// A cursor over one word being expanded.
class Expander {
 public:
  Expander(std::string_view text, char escape, const ShellWords::Lookup& env, bool heredoc = false)
      : text_(text), escape_(escape), env_(env), heredoc_(heredoc) {}

  // Expands until the end, or (inside ${...}) until an unquoted '}'.
  std::string run(bool until_brace) {
    std::string out;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (until_brace && c == '}') return out;
      if (heredoc_ && c == escape_) {
        // A here-document's escape protects only '$' and itself.
        char next = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
        if (next == '$' || next == escape_) {
          out += next;
          pos_ += 2;
        } else {
          out += c;
          ++pos_;
        }
      } else if (heredoc_ && (c == '\'' || c == '"')) {
        out += c;  // quotes are text in a here-document
        ++pos_;
      } else if (c == escape_) {
        ++pos_;
        if (pos_ < text_.size())
          out += text_[pos_++];
        else
          out += escape_;  // a lone escape at the end stays
      } else if (c == '\'') {
        out += single_quoted();
      } else if (c == '"') {
        out += double_quoted();
      } else if (c == '$') {
        std::string value = variable();
        if (!fields_ || until_brace) {
          out += value;
          continue;
        }
        // Unquoted, a variable's value is split into words at white space
        // (BuildKit splits after it substitutes: EXPOSE $PORTS).
        for (char ch : value) {
          if (!std::isspace(static_cast<unsigned char>(ch))) {
            out += ch;
          } else if (!out.empty() || field_quoted_) {
            fields_->push_back(std::move(out));
            out.clear();
            field_quoted_ = false;
          }
        }
      } else {
        out += c;
        ++pos_;
      }
    }
    if (until_brace) throw Error("missing '}' in '" + std::string(text_) + "'");
    return out;
  }

  bool quoted() const { return quoted_; }
  // Split unquoted variable values into fields, the words before the last
  // going to fields (the last is what run() returns).
  void split_into(std::vector<std::string>* fields) { fields_ = fields; }
  bool field_quoted() const { return field_quoted_; }

 private:
  std::string single_quoted() {
    quoted_ = field_quoted_ = true;
    size_t end = text_.find('\'', pos_ + 1);
    if (end == std::string_view::npos)
      throw Error("unterminated single quote in '" + std::string(text_) + "'");
    std::string out(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }

  std::string double_quoted() {
    quoted_ = field_quoted_ = true;
    std::string out;
    ++pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c == escape_ && pos_ + 1 < text_.size()) {
        // Inside double quotes the escape only protects ", $ and itself.
        char next = text_[pos_ + 1];
        if (next == '"' || next == '$' || next == escape_) {
          out += next;
          pos_ += 2;
          continue;
        }
      }
      if (c == '$') {
        out += variable();
        continue;
      }
      out += c;
      ++pos_;
    }
    throw Error("unterminated double quote in '" + std::string(text_) + "'");
  }

  std::string variable() {
    ++pos_;  // the '$'
    if (pos_ >= text_.size()) return "$";
    if (text_[pos_] == '{') return braced();
    size_t start = pos_;
    // As BuildKit's lexer: a positional parameter is one digit ($1x is $1
    // then "x"), a special one one character ($@, $*, $#, $?, $-, $$, $!);
    // none is ever set in a Dockerfile.
    char first = text_[pos_];
    if (std::isdigit(static_cast<unsigned char>(first)) ||
        std::string_view("*@#?-$!").find(first) != std::string_view::npos) {
      ++pos_;
      return env_(std::string(1, first)).value_or("");
    }
    while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
    if (pos_ == start) return "$";  // "$/", "$ ": a plain dollar
    return env_(std::string(text_.substr(start, pos_ - start))).value_or("");
  }

  std::string braced() {
    ++pos_;  // the '{'
    size_t start = pos_;
    while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
    std::string name(text_.substr(start, pos_ - start));
    if (name.empty()) throw Error("bad substitution in '" + std::string(text_) + "'");
    if (pos_ >= text_.size()) throw Error("missing '}' in '" + std::string(text_) + "'");
    std::optional<std::string> value = env_(name);
    if (text_[pos_] == '}') {
      ++pos_;
      return value.value_or("");
    }
    char op0 = text_[pos_];
    if (op0 == '#' || op0 == '%' || op0 == '/') return pattern_op(value.value_or(""));
    bool colon = text_[pos_] == ':';
    if (colon) ++pos_;
    char op = pos_ < text_.size() ? text_[pos_] : '\0';
    if (op != '-' && op != '+' && op != '?')
      throw Error("unsupported substitution in '" + std::string(text_) +
                  "' (coracle knows ${VAR:-word}, ${VAR:+word}, ${VAR:?message}, "
                  "${VAR#pattern}, ${VAR%pattern} and ${VAR/pattern/replacement})");
    ++pos_;
    std::string word = run(true);
    ++pos_;  // the '}'
    // With ':', an empty value counts as unset.
    bool set = value.has_value() && !(colon && value->empty());
    if (op == '-') return set ? *value : word;
    if (op == '+') return set ? word : "";
    if (!set) throw Error(name + ": " + (word.empty() ? "parameter not set" : word));
    return *value;
  }

  // ${VAR#pat} ${VAR##pat} (shortest or longest prefix removed), ${VAR%pat}
  // ${VAR%%pat} (suffix), ${VAR/pat/repl} ${VAR//pat/repl} (the first or
  // every longest match replaced). Patterns are globs (* ? [...]).
  std::string pattern_op(const std::string& value) {
    char op = text_[pos_++];
    bool twice = pos_ < text_.size() && text_[pos_] == op;
    if (twice) ++pos_;
    std::string arg = run(true);
    ++pos_;  // the '}'
    auto matches = [](const std::string& pattern, const std::string& s) {
      return fnmatch(pattern.c_str(), s.c_str(), 0) == 0;
    };
    size_t n = value.size();
    if (op == '#') {
      for (size_t k = 0; k <= n; ++k) {
        size_t len = twice ? n - k : k;
        if (matches(arg, value.substr(0, len))) return value.substr(len);
      }
      return value;
    }
    if (op == '%') {
      for (size_t k = 0; k <= n; ++k) {
        size_t len = twice ? n - k : k;
        if (matches(arg, value.substr(n - len))) return value.substr(0, n - len);
      }
      return value;
    }
    size_t slash = arg.find('/');
    std::string pattern = arg.substr(0, slash);
    std::string replacement = slash == std::string::npos ? "" : arg.substr(slash + 1);
    if (pattern.empty()) return value;
    std::string out;
    size_t i = 0;
    bool replaced = false;
    while (i < n) {
      size_t found = 0;
      if (!replaced || twice)
        for (size_t len = n - i; len > 0 && !found; --len)
          if (matches(pattern, value.substr(i, len))) found = len;
      if (found) {
        out += replacement;
        i += found;
        replaced = true;
      } else {
        out += value[i++];
      }
    }
    return out;
  }

  std::string_view text_;
  char escape_;
  const ShellWords::Lookup& env_;
  bool heredoc_;
  size_t pos_ = 0;
  bool quoted_ = false;
  std::vector<std::string>* fields_ = nullptr;
  bool field_quoted_ = false;
};

}  // namespace

std::string ShellWords::expand(std::string_view word, const Lookup& env) const {
  return Expander(word, escape_, env).run(false);
}

std::string ShellWords::expand_heredoc(std::string_view text, const Lookup& env) const {
  return Expander(text, escape_, env, true).run(false);
}

std::vector<std::string> ShellWords::split(std::string_view text) const {
  std::vector<std::string> words;
  std::string current;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      current += c;
      if (c == escape_ && quote == '"' && i + 1 < text.size())
        current += text[++i];
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(current));
      current.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    current += c;
    if (c == escape_ && i + 1 < text.size())
      current += text[++i];
    else if (c == '"' || c == '\'')
      quote = c;
  }
  if (quote) throw Error("unterminated quote in '" + std::string(text) + "'");
  if (in_word) words.push_back(std::move(current));
  return words;
}

std::vector<std::string> ShellWords::expand_words(std::string_view text, const Lookup& env) const {
  std::vector<std::string> out;
  for (const auto& raw : split(text)) {
    Expander e(raw, escape_, env);
    e.split_into(&out);
    std::string last = e.run(false);
    if (!last.empty() || e.field_quoted()) out.push_back(std::move(last));
  }
  return out;
}

}  // namespace coracle::builder
