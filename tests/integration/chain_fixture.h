// What the chain tests share: a store, an app folder with one file, and
// assistants made from a shell script (a Dockerfile FROM the default image).
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/fs.h"
#include "harness.h"

namespace coracle::test {

class ChainFixture : public StoreTest {
 protected:
  std::string app() const { return work.path() + "/app"; }

  void SetUp() override {
    mkdir_p(app());
    write_file_atomic(app() + "/main.txt", "original\n");
  }
  // An assistant folder (under parent, default WORK/assistants) whose
  // command is the shell script body.
  std::string assistant(const std::string& name, const std::string& script,
                        const std::string& parent = "") {
    std::string dir = (parent.empty() ? work.path() + "/assistants" : parent) + "/" + name;
    mkdir_p(dir);
    write_file_atomic(dir + "/name", name + "\n");
    write_file_atomic(dir + "/Dockerfile",
                      "FROM default\nCOPY --chmod=0555 cmd /assistant/cmd\n"
                      "ENTRYPOINT [\"/assistant/cmd\"]\n");
    write_file_atomic(dir + "/cmd", "#!/bin/sh\nset -e\n" + script);
    return dir;
  }
  // The same, pushed as local:NAME.
  std::string push(const std::string& name, const std::string& script) {
    auto r = cor({"assistants", "push", assistant(name, script)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return "local:" + name;
  }
  // coracle run APP EXTRA...
  RunResult run(std::vector<std::string> extra) {
    std::vector<std::string> args = {"run", app()};
    args.insert(args.end(), extra.begin(), extra.end());
    return cor(args);
  }
};

}  // namespace coracle::test
