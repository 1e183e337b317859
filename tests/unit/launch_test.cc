// Docker's rules for a container's process (launch::apply_process), and the
// exec flags on top: without root, without a store.
#include <gtest/gtest.h>

#include <algorithm>

#include "cli/exec_options.h"
#include "common/error.h"
#include "launch/launch.h"
#include "launch/run.h"
#include "sandbox/pasta.h"

namespace coracle::launch {
namespace {

image::ImageConfig web_image() {
  image::ImageConfig c;
  c.entrypoint = {"/entry.sh"};
  c.cmd = {"serve", "--port", "80"};
  c.env = {"PATH=/opt/bin:/usr/bin", "MODE=prod"};
  c.working_dir = "/srv";
  c.user = "web";
  return c;
}

const UserDb kUsers{
    "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n"
    "nobody:x:65534:65534::/nonexistent:/bin/false\n",
    "root:x:0:\nweb:x:33:\nstaff:x:50:\nnogroup:x:65534:\n"};

std::string env_of(const sandbox::Spec& s, const std::string& key) {
  for (const auto& e : s.env)
    if (e.rfind(key + "=", 0) == 0) return e.substr(key.size() + 1);
  return "<unset>";
}

TEST(Launch, EntrypointAndCmdFollowDockersRules) {
  auto config = web_image();
  sandbox::Spec s;
  apply_process(s, &config, {}, kUsers);
  EXPECT_EQ(s.argv, (std::vector<std::string>{"/entry.sh", "serve", "--port", "80"}));
  ProcessOverrides o;
  o.command = {"debug"};  // replaces CMD, keeps ENTRYPOINT
  apply_process(s, &config, o, kUsers);
  EXPECT_EQ(s.argv, (std::vector<std::string>{"/entry.sh", "debug"}));
  o.entrypoint = std::vector<std::string>{"/bin/sh"};  // drops CMD too
  o.command = {};
  apply_process(s, &config, o, kUsers);
  EXPECT_EQ(s.argv, (std::vector<std::string>{"/bin/sh"}));
  o.entrypoint = std::vector<std::string>{};  // cleared: the command is all
  o.command = {"ls", "-l"};
  apply_process(s, &config, o, kUsers);
  EXPECT_EQ(s.argv, (std::vector<std::string>{"ls", "-l"}));
  o.command = {};
  EXPECT_THROW(apply_process(s, &config, o, kUsers), Error);
  apply_process(s, nullptr, {}, kUsers);  // no image: a shell
  EXPECT_EQ(s.argv, (std::vector<std::string>{"/bin/sh"}));
}

TEST(Launch, EnvironmentUserAndWorkdir) {
  auto config = web_image();
  sandbox::Spec s;
  ProcessOverrides o;
  o.env = {"MODE=dev", "EXTRA=1"};
  o.hostname = "box";
  apply_process(s, &config, o, kUsers);
  EXPECT_EQ(s.uid, 33u);
  EXPECT_EQ(s.gid, 33u);
  EXPECT_EQ(env_of(s, "PATH"), "/opt/bin:/usr/bin");  // the image's over the default
  EXPECT_EQ(env_of(s, "HOME"), "/var/www");           // from the image's passwd
  EXPECT_EQ(env_of(s, "HOSTNAME"), "box");
  EXPECT_EQ(env_of(s, "MODE"), "dev");  // the caller's over the image's
  EXPECT_EQ(env_of(s, "EXTRA"), "1");
  EXPECT_EQ(s.workdir, "/srv");
  EXPECT_EQ(s.hostname, "box");
  o.user = "nobody:staff";
  o.workdir = "/tmp";
  apply_process(s, &config, o, kUsers);
  EXPECT_EQ(s.uid, 65534u);
  EXPECT_EQ(s.gid, 50u);
  EXPECT_EQ(env_of(s, "HOME"), "/nonexistent");
  EXPECT_EQ(s.workdir, "/tmp");
  o.user = "ghost";
  EXPECT_THROW(apply_process(s, &config, o, kUsers), Error);
  // No image, no passwd entry: root's home is /root, another user's /.
  sandbox::Spec bare;
  apply_process(bare, nullptr, {}, {});
  EXPECT_EQ(env_of(bare, "HOME"), "/root");
  EXPECT_EQ(env_of(bare, "PATH"), sandbox::kDefaultPath);
  EXPECT_EQ(bare.workdir, "/");
}

TEST(Launch, ExecFlagsForTheEntrypoint) {
  cli::ExecFlags f;
  f.entrypoint = "";
  f.command = {"echo", "hi"};
  auto config = web_image();
  EXPECT_EQ(cli::spec_from_flags(f, &config, kUsers).argv,
            (std::vector<std::string>{"echo", "hi"}));
  f.entrypoint = "/bin/busybox";
  EXPECT_EQ(cli::spec_from_flags(f, &config, kUsers).argv,
            (std::vector<std::string>{"/bin/busybox", "echo", "hi"}));
  f.entrypoint = R"(["/bin/sh", "-c"])";
  f.command = {"echo hi"};
  EXPECT_EQ(cli::spec_from_flags(f, &config, kUsers).argv,
            (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  f.entrypoint = "[1]";
  EXPECT_THROW(cli::spec_from_flags(f, &config, kUsers), Error);
  EXPECT_EQ(parse_pull_policy("never"), PullPolicy::Never);
  EXPECT_THROW(parse_pull_policy("sometimes"), Error);
}

// Every resolver layout through pasta: the host's first IPv4 resolver is
// asked through pasta's forwarding address only when it is on the host's
// loopback; otherwise straight, as the host asks it (a query sent straight
// while pasta forwards gets its reply from the forwarding address, and
// glibc drops it).
TEST(Launch, ResolvConfThroughPastaForEveryResolverLayout) {
  using sandbox::NetMode;
  using sandbox::pasta_forwards_dns;
  // A resolver on the host's network (this VM's, a cloud's, a LAN's).
  const std::string remote = "nameserver 10.255.255.53\n";
  EXPECT_FALSE(pasta_forwards_dns(remote));
  EXPECT_EQ(resolv_conf_for(NetMode::Pasta, remote, {}), remote);
  // systemd-resolved's stub, with its search domain and options.
  const std::string stub =
      "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan corp.example\n";
  EXPECT_TRUE(pasta_forwards_dns(stub));
  EXPECT_EQ(resolv_conf_for(NetMode::Pasta, stub, {}),
            "options edns0 trust-ad\nsearch lan corp.example\nnameserver 169.254.1.1\n");
  // Several: the first remote one straight, the host's loopback and link
  // ones left out, the rest kept in order.
  const std::string several =
      "nameserver 10.0.0.1\nnameserver 127.0.0.1\nnameserver ::1\n"
      "nameserver fe80::1%eth0\nnameserver 2001:db8::53\nnameserver 10.0.0.2\n";
  EXPECT_FALSE(pasta_forwards_dns(several));
  EXPECT_EQ(resolv_conf_for(NetMode::Pasta, several, {}),
            "nameserver 10.0.0.1\nnameserver 2001:db8::53\nnameserver 10.0.0.2\n");
  // IPv6 first, then a loopback IPv4 one: pasta's pick is the IPv4 one.
  const std::string v6_first = "nameserver 2001:db8::53\nnameserver 127.0.0.1\n";
  EXPECT_TRUE(pasta_forwards_dns(v6_first));
  EXPECT_EQ(resolv_conf_for(NetMode::Pasta, v6_first, {}),
            "nameserver 2001:db8::53\nnameserver 169.254.1.1\n");
  // No nameserver at all: glibc asks 127.0.0.1, which pasta reaches.
  EXPECT_TRUE(pasta_forwards_dns("search lan\n"));
  // Loopback only, and the host's resolvers all on its loopback: an
  // address with no route, so that a lookup fails at once (and is seen).
  EXPECT_EQ(resolv_conf_for(NetMode::Private, stub, {}),
            "options edns0 trust-ad\nsearch lan corp.example\nnameserver 169.254.1.1\n");
  EXPECT_EQ(resolv_conf_for(NetMode::Private, remote, {}), remote);
  // The host's network: everything as the host has it.
  EXPECT_EQ(resolv_conf_for(NetMode::Host, several, {}), several);
}

TEST(Launch, ResolvConfAndHostsFiles) {
  const std::string host =
      "# managed\nsearch corp.example\nnameserver 127.0.0.53\n"
      "nameserver 10.0.0.2\noptions edns0\n";
  EXPECT_EQ(resolv_conf_for(sandbox::NetMode::Pasta, host, {}),
            "# managed\nsearch corp.example\noptions edns0\nnameserver 169.254.1.1\n"
            "nameserver 10.0.0.2\n");
  EXPECT_EQ(resolv_conf_for(sandbox::NetMode::Host, host, {}),
            "# managed\nsearch corp.example\noptions edns0\nnameserver 127.0.0.53\n"
            "nameserver 10.0.0.2\n");
  EXPECT_EQ(resolv_conf_for(sandbox::NetMode::Private, host, {}),
            "# managed\nsearch corp.example\noptions edns0\nnameserver 10.0.0.2\n");
  EXPECT_EQ(resolv_conf_for(sandbox::NetMode::Pasta, "", {}), "nameserver 169.254.1.1\n");
  EXPECT_EQ(resolv_conf_for(sandbox::NetMode::Pasta, host, {{"9.9.9.9"}}),
            "# managed\nsearch corp.example\noptions edns0\nnameserver 9.9.9.9\n");
  // --dns-search and --dns-option replace the host's lines ("." for no search).
  EtcOptions own;
  own.dns_search = {"a.example", "b.example"};
  own.dns_options = {"ndots:2", "timeout:1"};
  EXPECT_EQ(resolv_conf_for(sandbox::NetMode::Host, host, own),
            "# managed\nsearch a.example b.example\noptions ndots:2 timeout:1\n"
            "nameserver 127.0.0.53\nnameserver 10.0.0.2\n");
  own.dns_search = {"."};
  own.dns_options.clear();
  EXPECT_EQ(resolv_conf_for(sandbox::NetMode::Host, host, own),
            "# managed\noptions edns0\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n");
  sandbox::Spec spec;
  own.dns_search = {"a.example\nnameserver 6.6.6.6"};
  EXPECT_THROW(add_etc_files(spec, own), Error);
  EXPECT_EQ(hosts_for("box", {"db:10.0.0.5", "v6:fd00::1"}),
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tbox\n"
            "10.0.0.5\tdb\nfd00::1\tv6\n");
  EXPECT_THROW(hosts_for("box", {"db"}), Error);
  EXPECT_THROW(hosts_for("box", {"db:not-an-ip"}), Error);
}

}  // namespace
// One wording of how a run ended for every caller (exec, the chain's
// steps and app, the builder's RUN), and one rule for coracle's own
// failure to start a command.
TEST(Launch, EveryRunEndsInTheSameWords) {
  sandbox::Result r;
  r.exit_code = 3;
  EXPECT_EQ(how_it_ended(r, "the run's --timeout"), "exited with status 3");
  r.exit_code = 137;
  r.term_signal = 9;
  EXPECT_EQ(how_it_ended(r, "the run's --timeout"), "killed by signal 9 (SIGKILL)");
  r.timed_out = true;
  r.message = "killed: the timeout was reached";
  EXPECT_EQ(how_it_ended(r, "the run's --timeout"), "stopped: the run's --timeout is over");
  Outcome timed_out;
  timed_out.result = r;
  EXPECT_FALSE(timed_out.failed_to_start());

  Outcome not_started;
  not_started.result.exit_code = 125;
  not_started.result.message = "cannot create the sandbox (clone3): Operation not permitted";
  EXPECT_TRUE(not_started.failed_to_start());
  EXPECT_EQ(how_it_ended(not_started.result, "--timeout"), not_started.result.message);
  Outcome command_failed;
  command_failed.result.exit_code = 125;  // the command's own status
  EXPECT_FALSE(command_failed.failed_to_start());
}

}  // namespace coracle::launch
