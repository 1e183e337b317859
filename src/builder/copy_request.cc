#include "builder/copy_request.h"

#include <cstdlib>

#include "builder/add_url.h"
#include "common/error.h"
#include "common/fs.h"
#include "image/image_user.h"

namespace coracle::builder {

CopyRequest copy_request_of(const Instruction& ins, const ShellWords& words,
                            const ShellWords::Lookup& lookup, const LayeredFs& target,
                            const std::string& working_dir, const std::string& at) {
  bool is_add = ins.keyword == "ADD";
  for (const char* flag : {"parents", "exclude", "keep-git-dir"})
    if (ins.flag(flag))
      throw Error(at + ": " + ins.keyword + " --" + flag + " is not supported by coracle build");
  std::vector<std::string> args =
      ins.exec_form ? *ins.exec_form : words.expand_words(ins.args, lookup);
  if (args.size() < 2) throw Error(at + ": " + ins.keyword + " needs a source and a destination");
  CopyRequest req;
  req.what = at;
  req.unpack_archives = is_add;
  std::string dest = args.back();
  args.pop_back();
  req.dest_is_dir = dest.back() == '/' || dest == "." ||
                    (dest.size() >= 2 && dest.compare(dest.size() - 2, 2, "/.") == 0);
  req.dest = clean_path(dest[0] == '/' ? dest : working_dir + "/" + dest);

  for (const auto& source : args) {
    if (is_git_source(source))
      throw Error(at + ": " + ins.keyword + " " + source +
                  ": a git repository is not supported by coracle build; clone it in a RUN");
    if (!is_url_source(source)) {
      req.sources.push_back(source);
    } else if (is_add) {
      req.urls.push_back(source);
    } else {
      throw Error(at + ": COPY " + source + ": a URL is a source for ADD only");
    }
  }
  if (auto checksum = ins.flag("checksum")) {
    if (!is_add || req.urls.empty() || !req.sources.empty())
      throw Error(at + ": " + ins.keyword +
                  " --checksum is for ADD of http(s) URLs only (not a local source)");
    req.checksum = words.expand(*checksum, lookup);
  }

  if (auto chown = ins.flag("chown")) {
    std::string who = words.expand(*chown, lookup);
    try {
      req.owner = image::parse_user(who, target.read_small_file("/etc/passwd"),
                                    target.read_small_file("/etc/group"));
    } catch (const Error& e) {
      throw Error(at + ": --chown=" + who + ": " + e.what());
    }
  }
  if (auto chmod = ins.flag("chmod")) {
    std::string m = words.expand(*chmod, lookup);
    char* end = nullptr;
    unsigned long v = strtoul(m.c_str(), &end, 8);
    if (m.empty() || *end || v > 07777)
      throw Error(at + ": --chmod=" + m + ": give an octal mode such as 0755");
    req.mode = static_cast<uint32_t>(v);
  }

  // Heredoc sources are files made from the Dockerfile's own text.
  for (auto it = req.sources.begin(); it != req.sources.end();) {
    const Heredoc* doc = nullptr;
    if (it->rfind("<<", 0) == 0)
      for (const auto& h : ins.heredocs)
        if (it->find(h.name) != std::string::npos) doc = &h;
    if (!doc) {
      ++it;
      continue;
    }
    std::string content = doc->expand ? words.expand_heredoc(doc->content, lookup) : doc->content;
    req.inline_files.emplace_back(doc->name, std::move(content));
    it = req.sources.erase(it);
  }
  return req;
}

}  // namespace coracle::builder
