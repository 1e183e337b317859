// An app's Ayup state: the files of APP/.ayup, a name → content map while
// a chain runs. The ABI's rules live here:
//  - after a step, each regular top-level file in /out/state replaces the
//    state file of that name; empty or `null` content removes it; the
//    others persist;
//  - `next` is what the step itself wrote (not writing it ends the chain);
//  - `cmd` is a JSON array of strings, `ports` a JSON array of 1..65535,
//    `workingdir` an absolute path: anything else breaks the ABI.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace coracle::chain {

class AppState {
 public:
  // Reads every regular top-level file of dir (missing dir: empty state).
  static AppState load(const std::string& dir);
  // Writes the files into dir (made if missing); files of dir that the
  // state no longer has are removed, so dir mirrors the state.
  void save(const std::string& dir) const;

  std::optional<std::string> get(const std::string& name) const;
  void set(const std::string& name, const std::string& value) { files_[name] = value; }
  void erase(const std::string& name) { files_.erase(name); }
  const std::map<std::string, std::string>& files() const { return files_; }

  // Merges a step's /out/state dir. Returns the `next` it wrote (trimmed;
  // empty when it wrote none, "nil" or an empty one). Throws coracle::Error
  // naming the file for a state file that breaks the ABI; then *this is
  // unchanged. step names the step in errors.
  std::string merge_out(const std::string& out_dir, const std::string& step);

  // The typed views, checked. what names the step for errors.
  std::optional<std::vector<std::string>> cmd(const std::string& what) const;
  std::vector<uint16_t> ports(const std::string& what) const;
  std::string working_dir() const;  // `workingdir`, default /app

 private:
  std::map<std::string, std::string> files_;
};

// Checks one state file's content against the ABI (cmd, ports,
// workingdir, next); throws coracle::Error("WHAT: state/NAME: ...").
void check_state_file(const std::string& name, const std::string& content, const std::string& what);

}  // namespace coracle::chain
