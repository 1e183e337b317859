// Every command's --json stream, on success and on failure, checked line
// by line against docs/events.schema.json by a real validator (Debian's
// python3-jsonschema, validate_events.py): `event` first, known events
// only with the fields they document, exactly one final event (result or
// error) as the last line, and nothing else on stdout.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "chain_fixture.h"
#include "common/fs.h"
#include "harness.h"
#include "registry_fixture.h"

namespace coracle::test {
namespace {

using nlohmann::json;

// The validator's verdict on a stream: "" when it holds, else what is
// wrong. names: the events' names, in order.
std::string check_stream(const std::string& stream, const std::string& command,
                         const std::string& final_event, std::string* names = nullptr) {
  TempDir dir;
  write_file_atomic(dir.path() + "/stream", stream);
  std::string cmd = std::string("/usr/bin/python3 ") + CORACLE_EVENTS_VALIDATOR + " " +
                    CORACLE_EVENTS_SCHEMA + " '" + command + "' " + final_event + " < " +
                    dir.path() + "/stream > " + dir.path() + "/verdict 2>&1";
  int status = system(cmd.c_str());
  std::string verdict = read_file(dir.path() + "/verdict");
  if (names) *names = verdict;
  if (status == 0) return "";
  return verdict.empty() ? "the validator did not run: " + cmd : verdict;
}

#define EXPECT_STREAM(run, command, final_event) \
  EXPECT_EQ(check_stream((run).out, command, final_event), "") << (run).out << (run).err

class EventStream : public ChainFixture {
 protected:
  json last(const RunResult& r) { return json::parse(lines_with(r.out, "{").back()); }
};

TEST(EventSchema, IsAValidJsonSchemaThatRefusesWhatItDoesNotKnow) {
  // The validator checks the schema itself; a made-up event, a missing
  // field, a wrong type and a stream without an end are each refused.
  std::string ok = R"({"event":"result","v":1,"time_ms":1.5,"command":"image gc",)"
                   R"("blobs_removed":0,"bytes_freed":0,"layers_removed":0,"layers_in_use":0})"
                   "\n";
  EXPECT_EQ(check_stream(ok, "image gc", "result"), "");
  EXPECT_NE(check_stream(R"({"event":"made.up","v":1,"time_ms":1})"
                         "\n" +
                             ok,
                         "image gc", "result"),
            "");
  EXPECT_NE(check_stream(R"({"event":"result","v":1,"time_ms":1,"command":"image gc"})"
                         "\n",
                         "image gc", "result"),
            "");
  EXPECT_NE(check_stream(R"({"v":1,"event":"log","time_ms":1,"stream":"stdout","line":"x"})"
                         "\n" +
                             ok,
                         "image gc", "result"),
            "");
  EXPECT_NE(check_stream(R"({"event":"log","v":1,"time_ms":1,"stream":"stdout","line":3})"
                         "\n" +
                             ok,
                         "image gc", "result"),
            "");
  EXPECT_NE(check_stream(R"({"event":"log","v":1,"time_ms":1,"stream":"stdout","line":"x"})"
                         "\n",
                         "image gc", "result"),
            "");
  EXPECT_NE(check_stream(ok + ok, "image gc", "result"), "");
}

TEST_F(EventStream, ExecOutputTravelsAsLogEventsAndTheResultEndsTheStream) {
  auto r = cor({"exec", "--json", "--", "sh", "-c",
                "echo out; echo err >&2; printf 'no newline \\377'; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_STREAM(r, "exec", "result");
  EXPECT_EQ(log_output(r.out), "out\nno newline \xef\xbf\xbd\n");  // not UTF-8: U+FFFD
  EXPECT_EQ(log_output(r.out, "stderr"), "err\n");
  EXPECT_EQ(last(r)["exit_code"], 3);

  // --json-fd: the events on their own fd, the command's stdout its own.
  TempDir dir;
  std::string events = dir.path() + "/events";
  std::string plain = run_sh(std::string(CORACLE_BIN) + " --root " + store.path() +
                             " exec --json-fd 3 -- echo plain 3>" + events);
  EXPECT_EQ(plain, "plain\n");
  RunResult from_fd{0, read_file(events), ""};
  EXPECT_STREAM(from_fd, "exec", "result");
  EXPECT_EQ(log_output(from_fd.out), "");
}

TEST_F(EventStream, ExecFailuresEndWithAnError) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
  } cases[] = {
      {{"exec", "--json", "--", "/no/such/command"}, 127},
      {{"exec", "--json", "no-such-image:1", "--", "true"}, 125},
      {{"exec", "--json", "--no-such-flag"}, 125},
      {{"exec", "--json", "--memory", "lots", "--", "true"}, 125},
      {{"exec", "--json", "-t", "--", "true"}, 125},  // a terminal's output is no event
  };
  for (const auto& c : cases) {
    auto r = cor(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args.back() << r.err;
    EXPECT_STREAM(r, "exec", "error");
    EXPECT_EQ(last(r)["exit_code"], c.exit_code);
    // The message is the one printed on stderr.
    EXPECT_NE(r.err.find(last(r)["message"].get<std::string>()), std::string::npos) << r.err;
  }
}

TEST_F(EventStream, PortEventsAreEventsOfTheStream) {
  auto r = cor({"exec", "--json", "-P", "--", "sh", "-c",
                "mkdir /www && (httpd -f -p 8080 -h /www &) && sleep 1 && echo served"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string names;
  EXPECT_EQ(check_stream(r.out, "exec", "result", &names), "") << r.out;
  EXPECT_NE(names.find("port.open"), std::string::npos) << names;
  EXPECT_NE(names.find("port.close"), std::string::npos) << names;
}

TEST_F(EventStream, ImagePullPushImportAndGc) {
  RegistryServer reg;
  std::string layout = make_umoci_image(work.path());
  std::string dir = layout.substr(4, layout.rfind(':') - 4);

  auto r = cor({"image", "import", "--json", dir, "--tag", "tests/events:1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_STREAM(r, "image import", "result");
  EXPECT_EQ(last(r)["images"][0], "docker.io/tests/events:1");
  r = cor({"image", "import", "--json", work.path() + "/missing"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_STREAM(r, "image import", "error");

  std::string ref = reg.host() + "/tests/events:1";
  r = cor({"push", "--json", "tests/events:1", ref});  // podman's word: image push
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_STREAM(r, "image push", "result");
  r = cor({"image", "push", "--json", "tests/not-here:1", ref});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_STREAM(r, "image push", "error");

  TempDir other;
  r = coracle({"--root", other.path(), "image", "pull", "--json", ref});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string names;
  EXPECT_EQ(check_stream(r.out, "image pull", "result", &names), "") << r.out;
  EXPECT_NE(names.find("pull.resolved"), std::string::npos) << names;
  EXPECT_NE(names.find("pull.blob.done"), std::string::npos) << names;
  EXPECT_EQ(last(r)["name"], ref);
  // A failed pull says so in the stream (it used to print nothing there).
  r = coracle({"--root", other.path(), "image", "pull", "--json", reg.host() + "/tests/none:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_STREAM(r, "image pull", "error");

  // exec of a missing image pulls it: the pull's events come first, in
  // the same stream.
  TempDir third;
  r = coracle({"--root", third.path(), "exec", "--json", ref});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(check_stream(r.out, "exec", "result", &names), "") << r.out;
  EXPECT_EQ(names.rfind("pull.resolved", 0), 0u) << names;

  r = cor({"image", "gc", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_STREAM(r, "image gc", "result");
  write_file_atomic(work.path() + "/not-a-store", "");
  r = coracle({"--root", work.path() + "/not-a-store", "image", "gc", "--json"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_STREAM(r, "image gc", "error");
}

TEST_F(EventStream, BuildStepsAndRunOutputAreEvents) {
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(ctx + "/Dockerfile",
                    "FROM default\nRUN echo building; echo to-stderr >&2\nCOPY . /ctx\n");
  auto r = cor({"build", "--json", "-t", "tests/events-build", ctx});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string names;
  EXPECT_EQ(check_stream(r.out, "build", "result", &names), "") << r.out;
  EXPECT_NE(names.find("build.step build.step_done"), std::string::npos) << names;
  // RUN output: a log event of its step, never raw on stdout.
  EXPECT_EQ(log_output(r.out, "output"), "building\nto-stderr\n");
  EXPECT_EQ(last(r)["tags"][0], "docker.io/tests/events-build:latest");
  r = cor({"build", "--json", "-t", "tests/events-build", ctx});  // all cached
  EXPECT_STREAM(r, "build", "result");

  write_file_atomic(ctx + "/Dockerfile", "FROM default\nRUN echo failing; exit 4\n");
  r = cor({"build", "--json", ctx});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_STREAM(r, "build", "error");
  EXPECT_EQ(log_output(r.out, "output"), "failing\n");
  write_file_atomic(ctx + "/Dockerfile", "FROM\n");
  r = cor({"build", "--json", ctx});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_STREAM(r, "build", "error");
}

TEST_F(EventStream, RunStepsAndTheirEnd) {
  std::string a = push("events", R"SH(
cp -a /in/app/. /out/app/
echo step-output
echo '["sh", "-c", "echo the app; exit 5"]' > /out/state/cmd
echo builtin:exec > /out/state/next
)SH");
  auto r = run({"--assistant", a, "--json"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  std::string names;
  EXPECT_EQ(check_stream(r.out, "run", "result", &names), "") << r.out;
  EXPECT_EQ(log_output(r.out), "step-output\nthe app\n");
  EXPECT_EQ(last(r)["app_exit_code"], 5);
  EXPECT_EQ(last(r)["written_to"], app());

  push("failing", "echo partial > /out/app/x\nexit 3\n");
  r = run({"--assistant", "local:failing", "--json"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_EQ(check_stream(r.out, "run", "error", &names), "") << r.out;
  EXPECT_NE(names.find("step.end error"), std::string::npos) << names;
  r = run({"--assistant", "local:no-such-assistant", "--json"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_STREAM(r, "run", "error");
}

TEST_F(EventStream, AssistantsPushAndPull) {
  RegistryServer reg;
  std::string dir = assistant("shared", "cp -a /in/app/. /out/app/\n");
  std::string ref = reg.host() + "/tests/assistant:1";
  auto r = cor({"assistants", "push", "--json", dir, ref});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_STREAM(r, "assistants push", "result");
  r = cor({"assistants", "pull", "--json", ref});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_STREAM(r, "assistants pull", "result");
  r = cor({"assistants", "pull", "--json", reg.host() + "/tests/no-assistant:1"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_STREAM(r, "assistants pull", "error");
}

}  // namespace
}  // namespace coracle::test
