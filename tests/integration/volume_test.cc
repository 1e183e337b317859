// Named volumes: data that outlives its runs (exec -v NAME:/path, run -v),
// owned as the sandbox's own (a service's chown of its data to its own
// user works and stays), held while a run uses it; a Dockerfile VOLUME gets
// an anonymous volume that goes with the run; `coracle volume`.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "harness.h"
#include "registry_fixture.h"

namespace coracle::test {
namespace {

using nlohmann::json;

class Volumes : public StoreTest {
 protected:
  std::string data_of(const std::string& name) {
    return store.path() + "/volumes/" + name + "/_data";
  }
};

TEST_F(Volumes, ANamedVolumeOutlivesItsRunsAndKeepsTheSandboxsOwners) {
  // As PostgreSQL's entrypoint does: root makes the data dir and gives it
  // to the service's user, which writes there.
  const DebianFixture& debian = debian_fixture();
  if (!debian.skip.empty()) GTEST_SKIP() << debian.skip;
  auto r = cor({"exec", "--rootfs", debian.rootfs, "-v", "pgdata:/var/lib/db", "--", "sh", "-c",
                "mkdir /var/lib/db/main && chown 999:999 /var/lib/db/main && "
                "setpriv --reuid 999 --regid 999 --clear-groups "
                "sh -c 'echo kept > /var/lib/db/main/file'"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", "--rootfs", debian.rootfs, "-v", "pgdata:/var/lib/db:ro", "--", "sh", "-c",
           "stat -c %u:%g /var/lib/db/main/file; cat /var/lib/db/main/file"});
  EXPECT_EQ(r.out, "999:999\nkept\n") << r.err;
  // On the host: the sandbox's ids (never host root's or the caller's).
  struct stat st {};
  ASSERT_EQ(stat((data_of("pgdata") + "/main/file").c_str(), &st), 0);
  EXPECT_NE(st.st_uid, 0u);
  EXPECT_NE(st.st_uid, 999u);
  // ./NAME is a folder, as in Docker.
  mkdir_p(work.path() + "/pgdata");
  write_file_atomic(work.path() + "/pgdata/x", "folder\n");
  EXPECT_EQ(run_sh("cd " + work.path() + " && " + CORACLE_BIN + " --root " + store.path() +
                   " exec -v ./pgdata:/d -- cat /d/x"),
            "folder\n");
}

TEST_F(Volumes, AVolumeInUseIsNeverRemovedAndTheCommandsShowIt) {
  ASSERT_EQ(cor({"volume", "create", "cache"}).exit_code, 0);
  EXPECT_EQ(cor({"volume", "create", "cache"}).exit_code, 125);
  EXPECT_EQ(cor({"volume", "create", "../evil"}).exit_code, 125);
  int out_fd = -1;
  pid_t pid = spawn_coracle({"--root", store.path(), "exec", "-v", "cache:/c", "-v", "other:/o",
                             "--", "sh", "-c", "echo up; sleep 30"},
                            &out_fd);
  ASSERT_NE(read_until(out_fd, "up\n").find("up"), std::string::npos);
  auto ls = json::parse(cor({"volume", "ls", "--json"}).out);
  ASSERT_EQ(ls.size(), 2u) << ls.dump();  // `other` was made on first use
  EXPECT_EQ(ls[0]["name"], "cache");
  EXPECT_EQ(ls[0]["in_use"], true);
  auto rm = cor({"volume", "rm", "cache"});
  EXPECT_EQ(rm.exit_code, 125);
  EXPECT_NE(rm.err.find("volume cache is in use"), std::string::npos) << rm.err;
  EXPECT_EQ(cor({"volume", "prune"}).out, "");
  EXPECT_TRUE(path_exists(data_of("cache")));
  // gc never takes a volume: it lists them as kept.
  auto gc = cor({"image", "gc"});
  EXPECT_NE(gc.out.find("kept 2 volumes (2 in use;"), std::string::npos) << gc.out;
  EXPECT_TRUE(path_exists(data_of("other")));
  kill(pid, SIGTERM);
  wait_coracle(pid);
  close(out_fd);
  EXPECT_EQ(cor({"volume", "inspect", "cache"}).exit_code, 0);
  EXPECT_EQ(cor({"volume", "rm", "cache"}).out, "cache\n");
  EXPECT_EQ(cor({"volume", "prune"}).out, "other\n");
  EXPECT_EQ(cor({"volume", "ls", "-q"}).out, "");
  EXPECT_EQ(cor({"volume", "inspect", "cache"}).exit_code, 125);
}

TEST_F(Volumes, ADockerfileVolumeGetsAnAnonymousOneThatGoesWithTheRun) {
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(ctx + "/Dockerfile", "FROM default\nVOLUME /cache\n");
  ASSERT_EQ(cor({"build", "-q", "-t", "withvol", ctx}).exit_code, 0);
  // Bound at /cache (a mount of its own), empty, gone after the run.
  auto r = cor({"exec", "withvol", "--", "sh", "-c",
                "grep -c ' /cache ' /proc/self/mountinfo; echo x > /cache/f; ls /cache"});
  EXPECT_EQ(r.out, "1\nf\n") << r.err;
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
  r = cor({"exec", "withvol", "--", "ls", "/cache"});
  EXPECT_EQ(r.out, "");
  // A named volume there instead: kept.
  ASSERT_EQ(cor({"exec", "-v", "keep:/cache", "withvol", "--", "sh", "-c", "echo y > /cache/f"})
                .exit_code,
            0);
  EXPECT_EQ(cor({"exec", "-v", "keep:/cache", "withvol", "--", "cat", "/cache/f"}).out, "y\n");
}

TEST_F(Volumes, AnEmptyVolumeGetsWhatTheImageHasThereOwnersAndAll) {
  // As Docker and podman: the image's files at the path are copied into
  // a volume that is empty (an anonymous one each run, a named one at its
  // first use), with their owners and modes.
  std::string ctx = work.path() + "/ctx";
  mkdir_p(ctx);
  write_file_atomic(ctx + "/Dockerfile",
                    "FROM default\nRUN mkdir -p /seeded && echo seed > /seeded/f && "
                    "chown 1000:1001 /seeded/f && chmod 0640 /seeded/f\nVOLUME /seeded\n");
  ASSERT_EQ(cor({"build", "-q", "-t", "seeded", ctx}).exit_code, 0);
  auto r = cor(
      {"exec", "seeded", "--", "sh", "-c",
       "stat -c '%u:%g %a' /seeded/f; cat /seeded/f; grep -c ' /seeded ' /proc/self/mountinfo"});
  EXPECT_EQ(r.out, "1000:1001 640\nseed\n1\n") << r.err;
  // A named one: filled once, then its own.
  r = cor({"exec", "-v", "kept:/seeded", "seeded", "--", "sh", "-c",
           "cat /seeded/f; echo changed > /seeded/f"});
  EXPECT_EQ(r.out, "seed\n") << r.err;
  EXPECT_EQ(cor({"exec", "-v", "kept:/seeded", "seeded", "--", "cat", "/seeded/f"}).out,
            "changed\n");
  EXPECT_EQ(count_entries_settled(store.path() + "/tmp"), 0);
}

TEST_F(Volumes, AnAppsDataOutlivesItsRunUnderCoracleRun) {
  // redis's way: the app appends to its data at start; the next run sees it.
  std::string app = work.path() + "/app";
  mkdir_p(app);
  write_file_atomic(
      app + "/Dockerfile",
      "FROM default\nCMD [\"sh\", \"-c\", \"echo run >> /data/log; cat /data/log\"]\n");
  auto first = cor({"run", "-q", app, "-v", "appdata:/data"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto second = cor({"run", "-q", app, "-v", "appdata:/data"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE((second.out + second.err).find("run\nrun\n"), std::string::npos)
      << second.out << second.err;
}

}  // namespace
}  // namespace coracle::test
