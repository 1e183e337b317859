// The OCI runtime front end's parts without a container: config.json read
// and checked field by field, `spec`'s document readable by that reader,
// and the state kept under --root (status from the init's pid and start
// time).
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include "common/error.h"
#include "common/fs.h"
#include "oci_runtime/config.h"
#include "oci_runtime/config_mapping.h"
#include "oci_runtime/documents.h"
#include "oci_runtime/hooks.h"
#include "oci_runtime/state.h"
#include "temp_dir.h"

namespace coracle::oci_runtime {
namespace {

using nlohmann::json;

std::string error_of(const json& config) {
  try {
    parse_config(config.dump(), "/bundle");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(OciConfig, SpecsOwnDocumentsAreReadBack) {
  for (bool rootless : {false, true}) {
    Config c = parse_config(default_spec(rootless).dump(), "/b");
    EXPECT_EQ(c.root_path, "/b/rootfs");
    EXPECT_TRUE(c.root_readonly);
    ASSERT_TRUE(c.process);
    EXPECT_EQ(c.process->args, std::vector<std::string>{"sh"});
    EXPECT_TRUE(c.process->terminal);
    EXPECT_TRUE(c.process->no_new_privileges);
    ASSERT_EQ(c.process->rlimits.size(), 1u);
    EXPECT_EQ(c.process->rlimits[0].type, "RLIMIT_NOFILE");
    EXPECT_NE(c.linux.find("pid"), nullptr);
    EXPECT_EQ(c.linux.find("user") != nullptr, rootless);
    EXPECT_EQ(c.linux.uid_mappings.size(), rootless ? 1u : 0u);
    EXPECT_FALSE(c.linux.masked_paths.empty());
  }
}

TEST(OciConfig, EveryFieldIsCheckedAndNamed) {
  json good = default_spec(false);
  EXPECT_EQ(error_of(good), "");
  auto with = [&](const std::string& pointer, json value) {
    json j = good;
    j[json::json_pointer(pointer)] = value;
    return error_of(j);
  };
  EXPECT_EQ(with("/ociVersion", "0.9"),
            "config.json: ociVersion: '0.9' is not a 1.x runtime spec version");
  EXPECT_EQ(with("/process/args", json::array()), "config.json: process.args: must not be empty");
  EXPECT_EQ(with("/process/cwd", "relative"), "config.json: process.cwd: must be an absolute path");
  EXPECT_EQ(with("/process/user/uid", -1), "config.json: process.user.uid: is out of range");
  EXPECT_EQ(with("/process/user/uid", 4294967296ull),
            "config.json: process.user.uid: is out of range");
  EXPECT_EQ(with("/process/env", json{"NOEQUALS"}),
            "config.json: process.env: 'NOEQUALS' is not KEY=VALUE");
  EXPECT_EQ(with("/process/rlimits/0/soft", 2048),
            "config.json: process.rlimits[0].soft: is above hard");
  EXPECT_EQ(with("/mounts/0/destination", "proc"),
            "config.json: mounts[0].destination: must be an absolute path");
  EXPECT_EQ(with("/linux/namespaces/0/type", "bogus"),
            "config.json: linux.namespaces[0].type: unknown namespace type 'bogus'");
  EXPECT_EQ(with("/linux/namespaces/1/type", "pid"),
            "config.json: linux.namespaces[1].type: pid is given twice");
  EXPECT_EQ(with("/linux/uidMappings", json{{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}}),
            "config.json: linux.uidMappings: id mappings need a user namespace");
  EXPECT_EQ(with("/hooks/prestart", json{{{"path", "hook"}}}),
            "config.json: hooks.prestart[0].path: must be an absolute path");
  EXPECT_EQ(with("/root/path", 7), "config.json: root.path: must be a string");
  json no_root = good;
  no_root.erase("root");
  EXPECT_EQ(error_of(no_root), "config.json: root: is required");
  // A hostname needs a uts namespace of its own.
  json shared_uts = good;
  auto& ns = shared_uts["linux"]["namespaces"];
  for (auto it = ns.begin(); it != ns.end(); ++it)
    if ((*it)["type"] == "uts") {
      ns.erase(it);
      break;
    }
  EXPECT_EQ(error_of(shared_uts), "config.json: hostname: needs a new uts namespace");
  EXPECT_EQ(error_of(json::parse("[1]")), "config.json: must be an object");
  try {
    parse_config("{not json", "/b");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "config.json: not valid JSON");
  }
}

TEST(OciState, KeptPerIdWithTheStatusOfItsInit) {
  test::UnitTempDir dir;
  StateStore store(dir.path + "/root");
  ContainerState s;
  s.id = "web-1";
  s.bundle = "/b";
  s.rootfs = "/b/rootfs";
  s.created = "2026-12-01T00:00:00.000000000Z";
  // This process stands in for a container's init.
  s.pid = getpid();
  s.pid_start_time = process_start_time(getpid());
  ASSERT_GT(s.pid_start_time, 0u);
  store.create(s);
  EXPECT_THROW(store.create(s), Error);  // one id, one container
  ContainerState back = store.load("web-1");
  EXPECT_EQ(status_of(back), "created");
  back.started = true;
  store.save(back);
  json j = state_json(store.load("web-1"));
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["pid"], getpid());
  EXPECT_EQ(j["bundle"], "/b");
  // Another process under the same pid number is not the container.
  back.pid_start_time += 1;
  EXPECT_EQ(status_of(back), "stopped");
  EXPECT_EQ(state_json(back)["pid"], 0);
  EXPECT_EQ(store.list().size(), 1u);
  store.remove("web-1");
  EXPECT_THROW(store.load("web-1"), Error);
  EXPECT_TRUE(store.list().empty());
  for (const char* bad : {"", ".", "..", "a/b", "a b"})
    EXPECT_THROW(check_container_id(bad), Error) << bad;
}

// A plain user without XDG_RUNTIME_DIR (su, cron, some ssh sessions) gets
// a folder of their own store, never one in the shared temp directory that
// another user could make first.
TEST(OciState, APlainUsersDefaultRootIsTheirsAlone) {
  test::UnitTempDir home;
  ASSERT_EQ(chown(home.path.c_str(), 4242, 4242), 0);
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[0]);
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("XDG_DATA_HOME");
    unsetenv("CORACLE_ROOT");
    setenv("HOME", home.path.c_str(), 1);
    if (setresgid(4242, 4242, 4242) < 0 || setresuid(4242, 4242, 4242) < 0) _exit(2);
    std::string root = default_state_root();
    (void)!write(pipe_fds[1], root.data(), root.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  char buf[512];
  ssize_t n = read(pipe_fds[0], buf, sizeof buf);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)),
            home.path + "/.local/share/coracle/runc-state");
}

TEST(OciMapping, AnExecHasNoMoreCapabilitiesThanItsContainer) {
  Process container, exec;
  container.capabilities = Capabilities{};
  container.capabilities->bounding = {"CAP_KILL", "CAP_CHOWN"};
  container.capabilities->effective = {"CAP_KILL"};
  // Naming none: the container's own sets.
  auto sets = exec_capabilities(exec, container);
  ASSERT_TRUE(sets);
  EXPECT_EQ(sets->bounding, (std::vector<std::string>{"CAP_KILL", "CAP_CHOWN"}));
  EXPECT_EQ(sets->effective, std::vector<std::string>{"CAP_KILL"});
  // Naming more: cut to the container's bounding set.
  exec.capabilities = Capabilities{};
  exec.capabilities->bounding = {"CAP_SYS_ADMIN", "CAP_CHOWN"};
  exec.capabilities->ambient = {"CAP_NET_ADMIN"};
  sets = exec_capabilities(exec, container);
  EXPECT_EQ(sets->bounding, std::vector<std::string>{"CAP_CHOWN"});
  EXPECT_TRUE(sets->ambient.empty());
  // A container with coracle's default: no more than that default.
  container.capabilities.reset();
  exec.capabilities->bounding = {"CAP_SYS_ADMIN", "CAP_CHOWN"};
  sets = exec_capabilities(exec, container);
  EXPECT_EQ(sets->bounding, std::vector<std::string>{"CAP_CHOWN"});
  exec.capabilities.reset();
  EXPECT_FALSE(exec_capabilities(exec, container));
}

TEST(OciMapping, TheConfigBecomesASandboxSpecWithCoraclesDefaults) {
  test::UnitTempDir dir;
  mkdir_p(dir.path + "/bundle/rootfs");
  json j = default_spec(false);
  j["process"]["args"] = {"/bin/server", "--port", "80"};
  j["mounts"].push_back({{"destination", "/data"},
                         {"type", "bind"},
                         {"source", "/srv/data"},
                         {"options", {"rbind", "ro"}}});
  j["mounts"].push_back({{"destination", "/run"},
                         {"type", "tmpfs"},
                         {"source", "tmpfs"},
                         {"options", {"nosuid", "size=64m", "mode=755"}}});
  j["linux"]["resources"]["memory"] = {{"limit", 268435456}};
  j["linux"]["resources"]["pids"] = {{"limit", 100}};
  j["linux"]["resources"]["cpu"] = {{"quota", 50000}, {"period", 100000}};
  j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"}};
  Config c = parse_config(j.dump(), dir.path + "/bundle");
  Mapped m = map_config(c, "web-1", dir.path);
  const sandbox::Spec& s = m.spec;
  EXPECT_EQ(s.rootfs, dir.path + "/bundle/rootfs");
  EXPECT_TRUE(s.read_only_rootfs);
  EXPECT_EQ(s.argv, (std::vector<std::string>{"/bin/server", "--port", "80"}));
  EXPECT_TRUE(s.tty);
  EXPECT_EQ(s.hostname, "coracle");
  // The five capability sets exactly as given, and noNewPrivileges as
  // asked (spec's default config sets it).
  ASSERT_TRUE(s.capability_sets);
  EXPECT_EQ(s.capability_sets->bounding.size(), 3u);
  EXPECT_EQ(s.capability_sets->bounding, s.capability_sets->ambient);
  EXPECT_TRUE(s.no_new_privs);
  ASSERT_EQ(s.rlimits.size(), 1u);
  EXPECT_EQ(s.rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(s.net, sandbox::NetMode::Private);
  ASSERT_EQ(s.volumes.size(), 1u);
  EXPECT_EQ(s.volumes[0].source, "/srv/data");
  EXPECT_TRUE(s.volumes[0].read_only);
  ASSERT_EQ(s.tmpfs.size(), 1u);
  EXPECT_EQ(s.tmpfs[0].size_bytes, 64u << 20);
  EXPECT_EQ(s.tmpfs[0].mode, 0755u);
  EXPECT_EQ(*s.limits.memory_bytes, 268435456u);
  EXPECT_EQ(*s.limits.pids, 100u);
  EXPECT_FALSE(s.limits.cpus);  // the cgroup takes the quota and period as given
  EXPECT_EQ(*s.limits.cpu.quota, 50000);
  EXPECT_EQ(*s.limits.cpu.period, 100000u);
  EXPECT_EQ(s.seccomp_profile, dir.path + "/seccomp.json");
  EXPECT_EQ(json::parse(read_file(s.seccomp_profile))["defaultAction"], "SCMP_ACT_ALLOW");
  EXPECT_NE(
      std::find(m.notes.begin(), m.notes.end(), "linux.namespaces: a user namespace is added"),
      m.notes.end());

  // What the sandbox cannot do yet is refused, naming the field.
  auto refused = [&](json config) {
    try {
      map_config(parse_config(config.dump(), dir.path + "/bundle"), "x", dir.path);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto mapped = [&](const json& config) {
    return map_config(parse_config(config.dump(), dir.path + "/bundle"), "x", dir.path);
  };
  // A namespace given by path is joined; one left out is the host's. Either
  // way root cannot have a user namespace of the sandbox's own (its /proc
  // and /sys could not be mounted), so it has none, as with runc.
  json joined = default_spec(false);
  joined["linux"]["namespaces"][1]["path"] = "/proc/1/ns/net";
  Mapped jn = mapped(joined);
  ASSERT_EQ(jn.spec.join_namespaces.size(), 1u);
  EXPECT_EQ(jn.spec.join_namespaces[0].type, CLONE_NEWNET);
  EXPECT_EQ(jn.spec.join_namespaces[0].path, "/proc/1/ns/net");
  EXPECT_EQ(jn.spec.user_namespace, geteuid() != 0);
  if (geteuid() == 0)
    EXPECT_NE(std::find(jn.notes.begin(), jn.notes.end(),
                        "linux.namespaces: no user namespace, root inside is the host's "
                        "(namespaces joined by path)"),
              jn.notes.end());
  json host_pid = default_spec(false);
  host_pid["linux"]["namespaces"].erase(0);
  Mapped h = mapped(host_pid);
  EXPECT_EQ(h.spec.shared_namespaces, CLONE_NEWPID);
  EXPECT_TRUE(h.spec.join_namespaces.empty());
  EXPECT_EQ(h.spec.user_namespace, geteuid() != 0);
  // The config's own id maps are the user namespace's (root only).
  json own_maps = default_spec(false);
  own_maps["linux"]["namespaces"].push_back({{"type", "user"}});
  own_maps["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 2000}}};
  own_maps["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 3000}}};
  if (geteuid() == 0) {
    Mapped m2 = mapped(own_maps);
    EXPECT_TRUE(m2.spec.user_namespace);
    ASSERT_EQ(m2.spec.uid_map.size(), 1u);
    EXPECT_EQ(m2.spec.uid_map[0].outside, 1000u);
    EXPECT_EQ(m2.spec.gid_map[0].count, 3000u);
  }
  // linux.devices: nodes made with mknod, so no user namespace of its own.
  json devices = default_spec(false);
  devices["linux"]["devices"] = {{{"path", "/dev/fuse"},
                                  {"type", "c"},
                                  {"major", 10},
                                  {"minor", 229},
                                  {"fileMode", 0600},
                                  {"uid", 0},
                                  {"gid", 0}}};
  Mapped dv = mapped(devices);
  ASSERT_EQ(dv.spec.device_nodes.size(), 1u);
  EXPECT_EQ(dv.spec.device_nodes[0].type, 'c');
  EXPECT_EQ(dv.spec.device_nodes[0].minor, 229u);
  EXPECT_EQ(dv.spec.device_nodes[0].mode, 0600u);
  EXPECT_EQ(dv.spec.user_namespace, geteuid() != 0);
  devices["linux"]["resources"]["devices"].push_back(
      {{"allow", true}, {"type", "c"}, {"major", 10}, {"access", "rw"}});
  Mapped rules = mapped(devices);
  ASSERT_EQ(rules.spec.limits.devices.size(), 1u);  // the deny-all rule adds nothing
  EXPECT_EQ(rules.spec.limits.devices[0].major, 10);
  EXPECT_EQ(rules.spec.limits.devices[0].minor, -1);
  EXPECT_EQ(rules.spec.limits.devices[0].access, "rw");
  devices["linux"]["devices"][0].erase("major");
  EXPECT_NE(refused(devices).find("linux.devices[0]: a c device needs major and minor"),
            std::string::npos);
  json joined_mnt = default_spec(false);
  joined_mnt["linux"]["namespaces"][4]["path"] = "/proc/1/ns/mnt";
  EXPECT_NE(refused(joined_mnt).find("linux.namespaces: joining a mount namespace"),
            std::string::npos);
  json time_ns = default_spec(false);
  time_ns["linux"]["namespaces"].push_back({{"type", "time"}});
  EXPECT_NE(refused(time_ns).find("linux.namespaces: a time namespace"), std::string::npos);
  json nfs = default_spec(false);
  nfs["mounts"].push_back({{"destination", "/n"}, {"type", "nfs"}, {"source", "h:/x"}});
  EXPECT_NE(refused(nfs).find("mounts[7].type: a nfs mount at /n"), std::string::npos);
  // No network namespace in the config: the host's network.
  json host_net = default_spec(false);
  host_net["linux"]["namespaces"].erase(1);
  EXPECT_EQ(mapped(host_net).spec.net, sandbox::NetMode::Host);
}

TEST(OciHooks, AHookThatReadsNothingNeitherKillsTheRuntimeNorChangesSigpipe) {
  // The state is bigger than a pipe holds and the first hook never reads
  // it: the write fails with EPIPE. Neither the runtime's SIGPIPE
  // disposition nor the next hook's may change for it (runc's hooks start
  // with SIGPIPE at its default).
  test::UnitTempDir tmp;
  std::string seen = tmp.path + "/sigign";
  Hook deaf{"/bin/true", {}, {}, std::nullopt};
  Hook reporter{"/bin/sh", {"sh", "-c", "grep ^SigIgn: /proc/self/status > " + seen}, {}, 5};
  struct sigaction before {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &before), 0);
  EXPECT_NO_THROW(run_hooks({deaf, reporter}, "createRuntime", std::string(1 << 20, 'x')));
  struct sigaction after {};
  ASSERT_EQ(sigaction(SIGPIPE, nullptr, &after), 0);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
  std::string line = read_file(seen);
  ASSERT_EQ(line.rfind("SigIgn:\t", 0), 0u) << line;
  unsigned long long ignored = std::stoull(line.substr(8), nullptr, 16);
  EXPECT_EQ(ignored & (1ull << (SIGPIPE - 1)), 0u) << line;
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE));  // taken back, not left to fire later
}

}  // namespace
}  // namespace coracle::oci_runtime
