// The assistant ABI's state rules on real directories: replace, clear on
// empty or null, persist otherwise; `next` consumed per step; cmd, ports
// and workingdir checked; assistant names and folders.
#include <gtest/gtest.h>

#include "chain/assistants.h"
#include "chain/state.h"
#include "common/error.h"
#include "common/fs.h"
#include "temp_dir.h"

namespace coracle::test {
namespace {

using chain::AppState;

void put(const std::string& path, const std::string& content) {
  mkdir_p(path.substr(0, path.find_last_of('/')));
  write_file_atomic(path, content);
}

TEST(ChainState, OutStateReplacesClearsAndPersists) {
  UnitTempDir t;
  mkdir_p(t.path + "/in");
  write_file_atomic(t.path + "/in/cmd", "[\"old\"]");
  write_file_atomic(t.path + "/in/keep", "kept");
  write_file_atomic(t.path + "/in/gone", "x");
  write_file_atomic(t.path + "/in/gone2", "x");
  write_file_atomic(t.path + "/in/next", "local:loop");
  AppState s = AppState::load(t.path + "/in");

  mkdir_p(t.path + "/out/subdir");
  write_file_atomic(t.path + "/out/cmd", "[\"python\", \"app.py\"]\n");
  write_file_atomic(t.path + "/out/gone", "");
  write_file_atomic(t.path + "/out/gone2", "null\n");
  write_file_atomic(t.path + "/out/ports", "[5000, 8080]");
  // The step wrote no `next`: the chain ends, whatever came before.
  EXPECT_EQ(s.merge_out(t.path + "/out", "step 1 (local:a)"), "");
  EXPECT_EQ(*s.cmd("x"), (std::vector<std::string>{"python", "app.py"}));
  EXPECT_EQ(s.get("keep"), "kept");
  EXPECT_FALSE(s.get("gone"));
  EXPECT_FALSE(s.get("gone2"));
  EXPECT_FALSE(s.get("next"));
  EXPECT_EQ(s.ports("x"), (std::vector<uint16_t>{5000, 8080}));
  EXPECT_EQ(s.working_dir(), "/app");

  put(t.path + "/out2/next", "builtin:exec\n");
  EXPECT_EQ(s.merge_out(t.path + "/out2", "step 2"), "builtin:exec");
  put(t.path + "/out3/next", "nil");
  EXPECT_EQ(s.merge_out(t.path + "/out3", "step 3"), "");

  s.save(t.path + "/saved");
  EXPECT_EQ(list_dir(t.path + "/saved"), (std::vector<std::string>{"cmd", "keep", "ports"}));
}

TEST(ChainState, ABrokenStateFileChangesNothingAndNamesItself) {
  UnitTempDir t;
  AppState s;
  s.set("cmd", "[\"ok\"]");
  struct Case {
    std::string name, content, expected;
  } cases[] = {
      {"cmd", "python app.py", "state/cmd"},
      {"cmd", "[1, 2]", "state/cmd"},
      {"ports", "[0]", "1..65535"},
      {"ports", "[70000]", "1..65535"},
      {"ports", "\"5000\"", "state/ports"},
      {"workingdir", "relative/dir", "absolute"},
      {"next", "exec", "not an assistant name"},
  };
  for (const auto& c : cases) {
    std::string out = t.path + "/" + c.name + std::to_string(c.content.size());
    put(out + "/" + c.name, c.content);
    put(out + "/other", "would be merged");
    try {
      s.merge_out(out, "step 2 (remote:x)");
      ADD_FAILURE() << c.name << "=" << c.content << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("step 2 (remote:x)"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << e.what();
    }
    EXPECT_FALSE(s.get("other"));
    EXPECT_EQ(s.get("cmd"), "[\"ok\"]");
  }
}

TEST(ChainAssistants, NamesAndFolders) {
  EXPECT_EQ(chain::parse_assistant_name("builtin:exec").kind, "builtin");
  EXPECT_EQ(chain::parse_assistant_name("local:my-helper").name, "my-helper");
  EXPECT_THROW(chain::parse_assistant_name("exec"), Error);
  EXPECT_THROW(chain::parse_assistant_name("cloud:x"), Error);
  EXPECT_THROW(chain::parse_assistant_name("local:../x"), Error);

  UnitTempDir t;
  std::string dir = t.path + "/a";
  mkdir_p(dir);
  EXPECT_THROW(chain::load_assistant_dir(dir, "x"), Error);  // no name
  write_file_atomic(dir + "/name", "helper\n");
  EXPECT_THROW(chain::load_assistant_dir(dir, "x"), Error);  // nothing to run
  write_file_atomic(dir + "/Dockerfile", "FROM default\nRUN true\n");
  EXPECT_THROW(chain::load_assistant_dir(dir, "x"), Error);  // no ENTRYPOINT/CMD
  write_file_atomic(dir + "/Dockerfile", "FROM default\nCMD [\"/bin/true\"]\n");
  write_file_atomic(dir + "/.ayup-env", "# secrets\nTOKEN=abc\nexport MODE='x y'\n");
  auto a = chain::load_assistant_dir(dir, "x");
  EXPECT_EQ(a.name, "helper");
  EXPECT_EQ(a.env, (std::vector<std::string>{"TOKEN=abc", "MODE=x y"}));

  chain::AssistantRegistry reg(t.path + "/store", "");
  EXPECT_EQ(reg.push(dir), "local:helper");
  EXPECT_EQ(reg.list(), (std::vector<std::string>{"builtin:dockerfile", "builtin:python",
                                                  "builtin:exec", "local:helper"}));
  EXPECT_EQ(reg.find(chain::parse_assistant_name("local:helper")).name, "helper");
  EXPECT_THROW(reg.find(chain::parse_assistant_name("local:nope")), Error);
  EXPECT_TRUE(reg.remove("helper"));
  EXPECT_FALSE(reg.remove("helper"));
}

}  // namespace
}  // namespace coracle::test
