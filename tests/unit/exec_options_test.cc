#include "cli/exec_options.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace coracle::cli {
namespace {

TEST(ExecOptions, Users) {
  EXPECT_EQ(parse_user("1000"), std::make_pair(1000u, 1000u));
  EXPECT_EQ(parse_user("1000:5"), std::make_pair(1000u, 5u));
  EXPECT_THROW(parse_user("bob"), Error);
  EXPECT_THROW(parse_user("1:2:3"), Error);
}

TEST(ExecOptions, Volumes) {
  auto v = parse_volume("/a:/b:ro");
  EXPECT_EQ(v.source, "/a");
  EXPECT_EQ(v.target, "/b");
  EXPECT_TRUE(v.read_only);
  EXPECT_FALSE(parse_volume("/a:/b").read_only);
  // A bare name is a named volume (Docker's rule); ./rel is a folder.
  auto named = parse_volume("rel:/b");
  EXPECT_EQ(named.source, "rel");
  EXPECT_TRUE(named.sandbox_owned);
  EXPECT_EQ(parse_volume("./rel:/b").source.front(), '/');
  EXPECT_FALSE(parse_volume("./rel:/b").sandbox_owned);
  EXPECT_THROW(parse_volume("/a"), Error);
  EXPECT_THROW(parse_volume("/a:/b:xx"), Error);
}

TEST(ExecOptions, Ulimits) {
  auto r = parse_ulimit("nofile=1024:4096");
  EXPECT_EQ(r.resource, RLIMIT_NOFILE);
  EXPECT_EQ(r.soft, 1024u);
  EXPECT_EQ(r.hard, 4096u);
  EXPECT_EQ(parse_ulimit("core=unlimited").hard, RLIM_INFINITY);
  EXPECT_THROW(parse_ulimit("bogus=1"), Error);
  EXPECT_THROW(parse_ulimit("nofile=9:1"), Error);
}

TEST(ExecOptions, Devices) {
  auto d = parse_device("/dev/ttyUSB0");
  EXPECT_EQ(d.source, "/dev/ttyUSB0");
  EXPECT_EQ(d.target, "");
  EXPECT_EQ(d.perms, "");
  d = parse_device("/dev/ttyUSB0:/dev/serial:rw");
  EXPECT_EQ(d.target, "/dev/serial");
  EXPECT_EQ(d.perms, "rw");
  d = parse_device("/dev/video0:r");
  EXPECT_EQ(d.target, "");
  EXPECT_EQ(d.perms, "r");
  EXPECT_THROW(parse_device("dev/x"), Error);
  EXPECT_THROW(parse_device("/dev/x:/y:rwx"), Error);
  EXPECT_THROW(parse_device("/dev/x:rel"), Error);
}

TEST(ExecOptions, Tmpfs) {
  auto t = parse_tmpfs("/run");
  EXPECT_EQ(t.target, "/run");
  EXPECT_EQ(t.size_bytes, 0u);
  EXPECT_EQ(t.mode, 01777u);
  t = parse_tmpfs("/cache:size=64m,mode=0700,ro,noexec,nosuid");
  EXPECT_EQ(t.size_bytes, 64u << 20);
  EXPECT_EQ(t.mode, 0700u);
  EXPECT_TRUE(t.read_only);
  EXPECT_TRUE(t.noexec);
  EXPECT_THROW(parse_tmpfs("rel"), Error);
  EXPECT_THROW(parse_tmpfs("/x:mode=9"), Error);
  EXPECT_THROW(parse_tmpfs("/x:suid"), Error);
}

TEST(ExecOptions, EnvFile) {
  auto env = parse_env_file("# c\n\nA=1\nexport B='x y'\r\nC=\"q\"\n  D=with=eq\n");
  EXPECT_EQ(env, (std::vector<std::string>{"A=1", "B=x y", "C=q", "D=with=eq"}));
  EXPECT_THROW(parse_env_file("novalue\n"), Error);
}

TEST(ExecOptions, SpecFromFlags) {
  ExecFlags f;
  f.command = {"echo", "hi"};
  f.env = {"A=1", "PATH=/x"};
  f.memory = "64m";
  f.pids = "10";
  f.timeout = "2s";
  f.net = "none";
  auto spec = spec_from_flags(f);
  EXPECT_EQ(spec.argv, f.command);
  EXPECT_EQ(spec.net, sandbox::NetMode::None);
  EXPECT_EQ(*spec.limits.memory_bytes, 64u << 20);
  EXPECT_EQ(*spec.limits.pids, 10u);
  EXPECT_EQ(spec.timeout.count(), 2000);
  EXPECT_NE(std::find(spec.env.begin(), spec.env.end(), "PATH=/x"), spec.env.end());
  EXPECT_NE(std::find(spec.env.begin(), spec.env.end(), "A=1"), spec.env.end());
  f.net = "wat";
  EXPECT_THROW(spec_from_flags(f), Error);
  ExecFlags empty;
  EXPECT_EQ(spec_from_flags(empty).argv, std::vector<std::string>{"/bin/sh"});
}

}  // namespace
}  // namespace coracle::cli
