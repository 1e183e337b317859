#include "chain/state.h"

#include <nlohmann/json.hpp>

#include "chain/assistants.h"
#include "common/error.h"
#include "common/fs.h"
#include "common/parse.h"

namespace coracle::chain {

using nlohmann::json;

namespace {

bool clears(const std::string& content) {
  std::string t = trimmed(content);
  return t.empty() || t == "null";
}

}  // namespace

AppState AppState::load(const std::string& dir) {
  AppState s;
  for (const auto& [name, content] : read_regular_files(dir)) s.files_[name] = content;
  return s;
}

void AppState::save(const std::string& dir) const {
  mkdir_p(dir);
  for (const auto& [name, _] : read_regular_files(dir))
    if (!files_.count(name)) remove_file(dir + "/" + name);
  for (const auto& [name, content] : files_) write_file_atomic(dir + "/" + name, content);
}

std::optional<std::string> AppState::get(const std::string& name) const {
  auto it = files_.find(name);
  if (it == files_.end()) return std::nullopt;
  return it->second;
}

namespace {

// What a bad value is, in words: a state file's content is never quoted in
// an error (a step may have written anything there, a secret included).
std::string kind_of(const json& j) {
  if (j.is_discarded()) return "text that is not JSON";
  if (j.is_object()) return "a JSON object";
  if (j.is_array()) return j.empty() ? "an empty array" : "an array";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_null()) return "null";
  if (j.is_number_integer()) return "a number out of range";
  return "a number that is not whole";
}

}  // namespace

void check_state_file(const std::string& name, const std::string& content,
                      const std::string& what) {
  std::string where = what + ": state/" + name;
  std::string t = trimmed(content);
  if (name == "cmd") {
    json j = json::parse(t, nullptr, false);
    if (!j.is_array() || j.empty())
      throw Error(where + ": must be a JSON array of strings, e.g. [\"python\", \"app.py\"]; got " +
                  kind_of(j));
    for (const auto& a : j)
      if (!a.is_string())
        throw Error(where + ": every element must be a string; one is " + kind_of(a));
  } else if (name == "ports") {
    json j = json::parse(t, nullptr, false);
    if (!j.is_array())
      throw Error(where + ": must be a JSON array of ports, e.g. [5000]; got " + kind_of(j));
    for (const auto& p : j)
      if (!p.is_number_integer() || p.get<int64_t>() < 1 || p.get<int64_t>() > 65535)
        throw Error(where + ": ports are whole numbers 1..65535; one is " + kind_of(p));
  } else if (name == "workingdir") {
    if (t.empty() || t[0] != '/') throw Error(where + ": must be an absolute path");
  } else if (name == "next" || name == "first") {
    // Only names: a host folder is never taken from state (it could be any
    // folder of the host, with its .ayup-env secrets).
    bool ok = t == "nil";
    if (!ok) {
      try {
        parse_assistant_name(t);
        ok = true;
      } catch (const Error&) {
      }
    }
    if (!ok)
      throw Error(where +
                  ": is not an assistant name (builtin:NAME, local:NAME or remote:NAME; a "
                  "folder only with --assistant)");
  }
}

std::string AppState::merge_out(const std::string& out_dir, const std::string& step) {
  AppState merged = *this;
  merged.files_.erase("next");  // consumed: a step that writes none ends the chain
  for (const auto& [name, content] : read_regular_files(out_dir)) {
    if (clears(content)) {
      merged.files_.erase(name);
      continue;
    }
    check_state_file(name, content, step);
    merged.files_[name] = content;
  }
  std::string next = trimmed(merged.get("next").value_or(""));
  if (next == "nil") next.clear();
  merged.files_.erase("next");
  *this = std::move(merged);
  return next;
}

std::optional<std::vector<std::string>> AppState::cmd(const std::string& what) const {
  auto c = get("cmd");
  if (!c) return std::nullopt;
  check_state_file("cmd", *c, what);
  return json::parse(trimmed(*c)).get<std::vector<std::string>>();
}

std::vector<uint16_t> AppState::ports(const std::string& what) const {
  std::vector<uint16_t> out;
  auto p = get("ports");
  // null: no ports (Ayup's dockerfile assistant writes it).
  if (!p || trimmed(*p) == "null") return out;
  check_state_file("ports", *p, what);
  for (const auto& v : json::parse(trimmed(*p))) out.push_back(static_cast<uint16_t>(v.get<int>()));
  return out;
}

std::string AppState::working_dir() const {
  auto w = get("workingdir");
  return w && !trimmed(*w).empty() ? trimmed(*w) : "/app";
}

}  // namespace coracle::chain
