// `coracle build` through the real binary: every instruction, RUN in the
// sandbox with its changes captured (whiteouts included), COPY/ADD from the
// context with .dockerignore, --chown/--chmod and escapes refused,
// multi-stage builds and --target, and each image checked from inside with
// `coracle exec`. The cache and interop are in build_cache_test.cc.
#include "build_fixture.h"
#include "image/oci.h"
#include "registry_fixture.h"

namespace coracle::test {
namespace {

TEST_F(BuildTest, EveryMetadataInstructionReachesTheConfig) {
  write("Dockerfile", R"(# syntax=docker/dockerfile:1
ARG BASE=default
FROM ${BASE}
ARG VERSION=1.0
ARG OVERRIDDEN=no
ARG PORTS="3000 4000/udp"
ENV APP_HOME=/srv/app \
    GREETING="hello world"
ENV LEGACY legacy value
LABEL org.example.version=$VERSION "quoted key"="a b"
MAINTAINER someone@example.com
EXPOSE 8080 53/udp
EXPOSE $PORTS
WORKDIR $APP_HOME
WORKDIR sub
STOPSIGNAL SIGQUIT
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -q -O- localhost:8080
USER nobody
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c", "echo \"$0 $GREETING $OVERRIDDEN_ENV $(id -u) $(pwd)\""]
CMD ["from-cmd"]
ENV OVERRIDDEN_ENV=$OVERRIDDEN
)");
  auto r = build({"--build-arg", "OVERRIDDEN=yes", "-t", "tests/meta"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json c = config_of("tests/meta");
  const json& cc = c["config"];
  EXPECT_EQ(cc["WorkingDir"], "/srv/app/sub");
  EXPECT_EQ(cc["User"], "nobody");
  EXPECT_EQ(cc["StopSignal"], "SIGQUIT");
  EXPECT_TRUE(cc["Volumes"].contains("/data"));
  EXPECT_TRUE(cc["ExposedPorts"].contains("8080/tcp"));
  EXPECT_TRUE(cc["ExposedPorts"].contains("53/udp"));
  // Split after substitution, as BuildKit does.
  EXPECT_TRUE(cc["ExposedPorts"].contains("3000/tcp"));
  EXPECT_TRUE(cc["ExposedPorts"].contains("4000/udp"));
  EXPECT_EQ(cc["Labels"]["org.example.version"], "1.0");
  EXPECT_EQ(cc["Labels"]["quoted key"], "a b");
  EXPECT_EQ(c["author"], "someone@example.com");
  EXPECT_EQ(cc["Healthcheck"]["Test"], json({"CMD-SHELL", "wget -q -O- localhost:8080"}));
  EXPECT_EQ(cc["Healthcheck"]["Interval"], 30000000000LL);
  EXPECT_EQ(cc["Healthcheck"]["Retries"], 3);
  EXPECT_EQ(cc["Shell"], json({"/bin/sh", "-ec"}));
  EXPECT_EQ(cc["Cmd"], json({"from-cmd"}));
  auto env = cc["Env"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(env.begin(), env.end(), "GREETING=hello world"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "LEGACY=legacy value"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "OVERRIDDEN_ENV=yes"), env.end());
  // ARGs are build-time only: they never reach the config.
  for (const auto& e : env) EXPECT_NE(e.rfind("VERSION=", 0), 0u) << e;
  // History: one entry per instruction, with what created it.
  bool saw_label = false;
  for (const auto& h : c["history"])
    saw_label |= h.value("created_by", "").rfind("LABEL org.example.version", 0) == 0;
  EXPECT_TRUE(saw_label) << c["history"].dump();

  // Checked from inside: the entrypoint, the user and the working dir.
  auto run = cor({"exec", "tests/meta"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "from-cmd hello world yes 65534 /srv/app/sub\n");
  expect_tools_accept("tests/meta");
}

TEST_F(BuildTest, RunFormsAndHeredocsLandInTheImage) {
  write("Dockerfile", R"(FROM default
ARG WHO=builder
RUN echo "shell form by $WHO" > /shell.txt
RUN ["/bin/sh", "-c", "echo exec form > /exec.txt"]
RUN <<EOF
set -e
echo "heredoc by $WHO" > /heredoc.txt
EOF
RUN cat > /cat.txt <<'END'
kept $WHO
END
COPY <<EOF /etc/motd
motd for $WHO
EOF
WORKDIR /deep/work/dir
RUN pwd > here.txt
)");
  auto r = build({"-t", "tests/run"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("RUN echo \"shell form by $WHO\""), std::string::npos) << r.err;
  auto run = cor({"exec", "tests/run", "--", "cat", "/shell.txt", "/exec.txt", "/heredoc.txt",
                  "/cat.txt", "/etc/motd", "/deep/work/dir/here.txt"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "shell form by builder\nexec form\nheredoc by builder\nkept $WHO\nmotd for builder\n"
            "/deep/work/dir\n");
  expect_tools_accept("tests/run");
}

TEST_F(BuildTest, DeletionsBecomeWhiteoutsAndOpaqueDirectories) {
  write("Dockerfile", R"(FROM default
RUN mkdir -p /data/old /data/keep && echo 1 > /data/old/a && echo 2 > /data/keep/b && echo 3 > /data/f
RUN rm /data/f && rm -rf /data/keep && mkdir /data/keep && echo new > /data/keep/c && rm -rf /data/old
)");
  auto r = build({"-t", "tests/wh"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto run = cor({"exec", "tests/wh", "--", "sh", "-c", "find /data | sort"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "/data\n/data/keep\n/data/keep/c\n");
  // The last layer says so with OCI whiteouts.
  json m = manifest_of("tests/wh");
  std::string top = m["layers"].back()["digest"];
  std::string listing = run_sh("tar tzf " + blob(top));
  EXPECT_NE(listing.find("data/.wh.f"), std::string::npos) << listing;
  EXPECT_NE(listing.find("data/.wh.old"), std::string::npos) << listing;
  EXPECT_NE(listing.find("data/keep/.wh..wh..opq"), std::string::npos) << listing;
  // umoci applies them the same way.
  std::string rootfs = expect_tools_accept("tests/wh");
  EXPECT_EQ(run_sh("cd " + rootfs + " && find data | sort"), "data\ndata/keep\ndata/keep/c\n");
}

TEST_F(BuildTest, CopyAndAddFromTheContext) {
  write("Dockerfile", R"(FROM default
COPY app/ /app/
COPY *.conf /etc/conf.d/
COPY --chown=nobody:nogroup --chmod=0700 secret.sh /usr/local/bin/
ADD bundle.tar.gz /opt/bundle
ADD plain.gz /opt/
COPY . /ctx
)");
  write("app/main.sh", "echo main\n");
  write("app/lib/util.sh", "echo util\n");
  write("a.conf", "a\n");
  write("b.conf", "b\n");
  write("secret.sh", "echo secret\n");
  write("ignored/big", "x\n");
  write("notes.tmp", "x\n");
  write(".dockerignore", "ignored\n*.tmp\n");
  run_sh("mkdir -p " + work.path() + "/t/sub && echo inner > " + work.path() +
         "/t/sub/file && tar czf " + ctx() + "/bundle.tar.gz -C " + work.path() + "/t sub");
  run_sh("echo raw | gzip > " + ctx() + "/plain.gz");
  auto r = build({"-t", "tests/copy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto run = cor({"exec", "tests/copy", "--", "sh", "-c",
                  "cat /app/main.sh /app/lib/util.sh /etc/conf.d/a.conf /etc/conf.d/b.conf "
                  "/opt/bundle/sub/file; stat -c '%U:%G %a' /usr/local/bin/secret.sh; "
                  "ls /opt; ls -A /ctx | sort | tr '\\n' ' '"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "echo main\necho util\na\nb\ninner\nnobody:nogroup 700\nbundle\nplain.gz\n"
            ".dockerignore Dockerfile a.conf app b.conf bundle.tar.gz plain.gz secret.sh ");
  expect_tools_accept("tests/copy");
}

TEST_F(BuildTest, SourcesOutsideTheContextAreRefused) {
  TempDir outside;
  write_file_atomic(outside.path() + "/secret", "host secret\n");
  ASSERT_EQ(symlink((outside.path() + "/secret").c_str(), (ctx() + "/link").c_str()), 0);
  ASSERT_EQ(symlink("../../../../../../../../etc", (ctx() + "/etc-link").c_str()), 0);
  for (const std::string source : {"../secret", "link", "etc-link/passwd"}) {
    write("Dockerfile", "FROM default\nCOPY " + source + " /x\n");
    auto r = build({"-t", "tests/escape"});
    EXPECT_EQ(r.exit_code, 125) << source;
    EXPECT_NE(r.err.find("Dockerfile:2"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("outside the build context"), std::string::npos) << r.err;
  }
  EXPECT_EQ(cor({"image", "inspect", "tests/escape"}).exit_code, 125);
}

TEST_F(BuildTest, MultiStageCopiesFromAStageAndTargetBuildsOnlyWhatItNeeds) {
  const std::string never = "FROM base AS never\nRUN echo this stage is not needed && false\n\n";
  const std::string dockerfile = R"(FROM default AS base
RUN mkdir /out && echo built-in-base > /out/artifact

FROM scratch AS files
COPY --from=base /out/artifact /artifact

)" + never + R"(FROM default
COPY --from=files /artifact /from-files
COPY --from=0 --chown=1000:1000 /out /copied
RUN cat /from-files /copied/artifact && stat -c %u /copied/artifact
)";
  write("Dockerfile", dockerfile);
  auto r = build({"--target", "files", "-t", "tests/files"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("not needed"), std::string::npos) << r.err;
  EXPECT_EQ(manifest_of("tests/files")["layers"].size(), 1u);  // scratch + one COPY

  // The whole file: the unused stage is skipped, the last stage is the
  // image; COPY --from also takes an image of the store.
  write("Dockerfile", dockerfile + "COPY --from=tests/files /artifact /from-image\n");
  r = build({"-t", "tests/multi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("not needed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("built-in-base\nbuilt-in-base\n1000\n"), std::string::npos) << r.err;
  auto run = cor({"exec", "tests/multi", "--", "cat", "/from-files", "/from-image"});
  EXPECT_EQ(run.out, "built-in-base\nbuilt-in-base\n");
  expect_tools_accept("tests/files");
  expect_tools_accept("tests/multi");
}

TEST_F(BuildTest, ScratchImageRunsAStaticBinary) {
  run_sh("cp " + std::string(probe()) + " " + ctx() + "/probe");
  write("Dockerfile", "FROM scratch\nCOPY probe /probe\nENTRYPOINT [\"/probe\"]\n");
  auto r = build({"-t", "tests/scratch"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The entrypoint is /probe: the command is its arguments.
  auto run = cor({"exec", "tests/scratch", "--", "fds"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("done"), std::string::npos) << run.out;
  expect_tools_accept("tests/scratch");
}

TEST_F(BuildTest, BadDockerfilesAndMissingBasesSayWhereAndWhat) {
  struct Case {
    std::string dockerfile, expected;
  } cases[] = {
      {"FROM default\nRUNN echo\n", "Dockerfile:2"},
      {"FROM default\nONBUILD ONBUILD RUN echo\n", "Dockerfile:2: ONBUILD isn't allowed"},
      {"RUN echo\n", "Dockerfile:1"},
      {"FROM 127.0.0.1:1/missing/base:1\n", "coracle image pull 127.0.0.1:1/missing/base:1"},
      {"FROM default\nCOPY nothing-here /x\n", "'nothing-here' not found"},
      {"FROM default\nEXPOSE 70000\n", "Dockerfile:2: EXPOSE 70000"},
      {"FROM default\nUSER ghost\nRUN true\n", "ghost"},
  };
  for (const auto& c : cases) {
    write("Dockerfile", c.dockerfile);
    auto r = build({"-t", "tests/bad"});
    EXPECT_EQ(r.exit_code, 125) << c.dockerfile;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.dockerfile << "\n" << r.err;
  }
  EXPECT_EQ(cor({"image", "inspect", "tests/bad"}).exit_code, 125);
}

TEST_F(BuildTest, AFailingRunShowsItsOutputAndMovesNoTag) {
  write("Dockerfile", "FROM default\nRUN echo first > /f\n");
  ASSERT_EQ(build({"-t", "tests/keep"}).exit_code, 0);
  std::string before = manifest_digest("tests/keep");
  write("Dockerfile",
        "FROM default\nRUN echo first > /f\nRUN echo about to fail; echo oops >&2; exit 3\n");
  auto r = build({"-t", "tests/keep"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("Dockerfile:3: RUN echo about to fail"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("failed: exited with status 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--- last output ---\nabout to fail\noops"), std::string::npos) << r.err;
  EXPECT_EQ(manifest_digest("tests/keep"), before);
}

TEST_F(BuildTest, AnArgsDefaultIsExpandedOnceAndOnlyWhenNotGiven) {
  write("Dockerfile", R"(FROM default
ARG T='$HOME'
ARG BAR=${FOO:?"foo missing"}
RUN echo "T=$T BAR=$BAR" > /args.txt
)");
  auto r = build({"--build-arg", "BAR=123", "-t", "tests/args-once"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", "tests/args-once", "--", "cat", "/args.txt"});
  EXPECT_EQ(r.out, "T=$HOME BAR=123\n") << r.err;
  // Without the build arg, the default's ${FOO:?} fails, naming FOO.
  r = build({"-t", "tests/args-once-2"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("foo missing"), std::string::npos) << r.err;
  // ... and says where (difference 10: expansion errors name the line).
  EXPECT_NE(r.err.find("Dockerfile:3: "), std::string::npos) << r.err;
  // ENV with a name and no value is refused, as BuildKit's parser does.
  write("Dockerfile", "FROM default\nENV PATH\n");
  r = build({"-t", "tests/env-no-value"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("Dockerfile:2: ENV PATH has no value"), std::string::npos) << r.err;
}

TEST_F(BuildTest, ASymlinkSourceIsCopiedUnderItsOwnName) {
  // As BuildKit: COPY follows a source that is a symlink (inside the
  // context) and writes its target's content under the link's own name.
  write("bar", "bar-content\n");
  ASSERT_EQ(symlink("bar", (ctx() + "/foo").c_str()), 0);
  write("Dockerfile", "FROM default\nCOPY foo /\nCOPY fo* /globbed/\n");
  auto r = build({"-t", "tests/symlink-name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", "tests/symlink-name", "--", "sh", "-c",
           "cat /foo /globbed/foo; test -L /foo || echo regular; test -e /bar || echo no-bar"});
  EXPECT_EQ(r.out, "bar-content\nbar-content\nregular\nno-bar\n") << r.err;
}

TEST_F(BuildTest, WorkdirIsMadeAsTheStagesUser) {
  // As BuildKit: a WORKDIR that USER's later RUN must write to is that
  // user's.
  write("Dockerfile", "FROM default\nUSER nobody\nWORKDIR /work/here\nRUN touch made-by-nobody\n");
  auto r = build({"-t", "tests/workdir-user"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", "-u", "0", "tests/workdir-user", "--", "stat", "-c", "%U", "/work/here",
           "/work/here/made-by-nobody"});
  EXPECT_EQ(r.out, "nobody\nnobody\n") << r.err;
}

TEST_F(BuildTest, CopyChmodReachesTheDirectoryItMakes) {
  write("tree/sub/f", "x");
  write("Dockerfile", "FROM default\nCOPY --chmod=700 tree /made/here/\n");
  auto r = build({"-t", "tests/chmod-dirs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", "tests/chmod-dirs", "--", "stat", "-c", "%a %n", "/made", "/made/here",
           "/made/here/sub", "/made/here/sub/f"});
  // The parent coracle makes is plain; the copied tree's root and entries
  // carry --chmod.
  EXPECT_EQ(r.out, "755 /made\n700 /made/here\n700 /made/here/sub\n700 /made/here/sub/f\n")
      << r.err;
}

TEST_F(BuildTest, AHeredocWithAShebangRunsUnderItsInterpreter) {
  write("Dockerfile", R"(FROM default
RUN <<EOF
#!/usr/bin/awk -f
BEGIN { print "from awk" > "/awk.txt" }
EOF
)");
  auto r = build({"-t", "tests/shebang"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor(
      {"exec", "tests/shebang", "--", "sh", "-c", "cat /awk.txt; ls -a /dev | grep -c coracle"});
  EXPECT_EQ(r.out, "from awk\n0\n") << r.err;  // the script file stays out of the image
  // A changed body is a changed step: no stale cache.
  write("Dockerfile", R"(FROM default
RUN <<EOF
#!/usr/bin/awk -f
BEGIN { print "changed" > "/awk.txt" }
EOF
)");
  r = build({"-t", "tests/shebang"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", "tests/shebang", "--", "cat", "/awk.txt"});
  EXPECT_EQ(r.out, "changed\n") << r.err;
}

TEST_F(BuildTest, DockerignoreExceptionsAndTheDockerfilesOwnIgnoreFile) {
  write("docs/README.md", "readme\n");
  write("docs/other.md", "other\n");
  write("docs/deep/keep.txt", "kept\n");
  write("docs/deep/drop.txt", "dropped\n");
  write("app.txt", "app\n");
  write(".dockerignore", "docs\n!docs/README.md\n!docs/deep/keep.txt\n");
  write("Dockerfile", "FROM default\nCOPY . /ctx/\n");
  auto r = build({"-t", "tests/ignore-exc"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", "tests/ignore-exc", "--", "sh", "-c", "cd /ctx && find . -type f | sort"});
  EXPECT_EQ(r.out,
            "./.dockerignore\n./Dockerfile\n./app.txt\n./docs/README.md\n./docs/deep/keep.txt\n")
      << r.err;
  // A Dockerfile given with -f has its own ignore file, which wins.
  write("build/app.Dockerfile", "FROM default\nCOPY . /ctx/\n");
  write("build/app.Dockerfile.dockerignore", "*.md\ndocs\nbuild\n");
  r = build({"-f", ctx() + "/build/app.Dockerfile", "-t", "tests/ignore-own"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", "tests/ignore-own", "--", "sh", "-c", "cd /ctx && find . -type f | sort"});
  EXPECT_EQ(r.out, "./.dockerignore\n./Dockerfile\n./app.txt\n") << r.err;
  // An invalid pattern fails the build, naming the file.
  write(".dockerignore", "!\n");
  r = build({"-t", "tests/ignore-bad"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find(".dockerignore: illegal exclusion pattern"), std::string::npos) << r.err;
}

TEST_F(BuildTest, DockerBuildsFlagsLabelIidfilePlatformAndAStdinDockerfile) {
  // -f - reads the Dockerfile from stdin; --label wins over LABEL;
  // --iidfile gets the image ID (its config digest).
  std::string iid = work.path() + "/iid";
  std::string out = run_sh(
      "printf 'FROM default\\nLABEL a=from-file b=from-file\\n' | " + std::string(CORACLE_BIN) +
      " --root " + store.path() + " build -q -f - --label b=from-flag --label c=3 --iidfile " +
      iid + " --platform " + image::host_platform().str() + " -t tests/flags " + ctx());
  EXPECT_EQ(out.rfind("sha256:", 0), 0u) << out;
  json c = config_of("tests/flags");
  EXPECT_EQ(c["config"]["Labels"]["a"], "from-file");
  EXPECT_EQ(c["config"]["Labels"]["b"], "from-flag");
  EXPECT_EQ(c["config"]["Labels"]["c"], "3");
  EXPECT_EQ(read_file(iid), inspect("tests/flags")["config_digest"].get<std::string>());
  // Another platform is refused, not built for this one.
  write("Dockerfile", "FROM default\n");
  auto r = build({"--platform", "linux/s390x", "-t", "tests/other-platform"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("--platform linux/s390x"), std::string::npos) << r.err;
  // --build-arg NAME takes the value from coracle's environment, as docker.
  write("Dockerfile", "FROM default\nARG FROM_ENV\nRUN echo $FROM_ENV > /from-env\n");
  RunOptions with_env;
  with_env.env = {"FROM_ENV=hello from env"};
  r = cor({"build", "--build-arg", "FROM_ENV", "-t", "tests/arg-env", ctx()}, with_env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cor({"exec", "tests/arg-env", "--", "cat", "/from-env"}).out, "hello from env\n");
  // Unset there, nothing is passed: the ARG keeps its default.
  write("Dockerfile", "FROM default\nARG FROM_ENV=dflt\nRUN echo $FROM_ENV > /from-env\n");
  r = build({"--build-arg", "FROM_ENV", "-t", "tests/arg-env-unset"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cor({"exec", "tests/arg-env-unset", "--", "cat", "/from-env"}).out, "dflt\n");
}

TEST_F(BuildTest, OnbuildTriggersRunInTheNextBuildAndStopThere) {
  // A base image with triggers: kept in its config, not run for it.
  write("base/Dockerfile", R"(FROM default
ONBUILD RUN echo triggered > /from-trigger
ONBUILD ENV FROM_TRIGGER=yes
RUN test ! -e /from-trigger
)");
  auto r = build({"-t", "tests/onbuild-base"}, ctx() + "/base");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(config_of("tests/onbuild-base")["config"]["OnBuild"],
            json({"RUN echo triggered > /from-trigger", "ENV FROM_TRIGGER=yes"}));
  // An image built FROM it runs them first; its own config carries none.
  write("child/Dockerfile", "FROM tests/onbuild-base\nRUN cat /from-trigger\n");
  r = build({"-t", "tests/onbuild-child"}, ctx() + "/child");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor(
      {"exec", "tests/onbuild-child", "--", "sh", "-c", "cat /from-trigger; echo $FROM_TRIGGER"});
  EXPECT_EQ(r.out, "triggered\nyes\n") << r.err;
  EXPECT_FALSE(config_of("tests/onbuild-child")["config"].contains("OnBuild"));
  // Triggers that Docker forbids are refused where they are written.
  write("bad/Dockerfile", "FROM default\nONBUILD FROM default\n");
  r = build({"-t", "tests/onbuild-bad"}, ctx() + "/bad");
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("FROM isn't allowed as an ONBUILD trigger"), std::string::npos) << r.err;
  // A hostile base image's triggers: a newline that would add a stage,
  // a terminal escape, a trigger ONBUILD may not hold: refused, unprinted.
  for (const char* trigger : {"RUN true\nFROM default", "RUN echo \x1b[2J", "FROM default"}) {
    make_layout(work.path() + "/evil",
                {{"tag", "evil"}, {"layers", {busybox_layer()}}, {"onbuild", {trigger}}});
    ASSERT_EQ(cor({"image", "import", work.path() + "/evil"}).exit_code, 0);
    run_sh("rm -rf " + work.path() + "/evil");
    write("evil/Dockerfile", "FROM evil\nRUN true\n");
    r = build({"-t", "tests/onbuild-evil"}, ctx() + "/evil");
    EXPECT_EQ(r.exit_code, 125) << trigger;
    EXPECT_NE(r.err.find("ONBUILD trigger"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
  }
}

TEST_F(BuildTest, AddFromAUrlChecksItsChecksumAndKeepsOffTheHostsLoopback) {
  // A web server on the host's loopback: reachable by a build with the
  // host's network only, as RUN's would be.
  std::string site = work.path() + "/site";
  mkdir_p(site + "/dl");
  write_file_atomic(site + "/dl/tool.sh", "echo tool\n");
  run_sh("touch -d @1600000000 " + site + "/dl/tool.sh");
  int port = free_port();
  Background server({"python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", site,
                     std::to_string(port)},
                    work.path() + "/http.log");
  ASSERT_TRUE(wait_for_port(port));
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  std::string good = run_sh("sha256sum " + site + "/dl/tool.sh | cut -c1-64");
  good.pop_back();
  write("Dockerfile", "FROM default\nADD " + base +
                          "/dl/tool.sh /opt/\nADD --checksum=sha256:" + good + " " + base +
                          "/dl/tool.sh /opt/checked\nADD --chmod=755 " + base + "/ /opt/index/\n");
  auto r = build({"--network", "host", "-t", "tests/add-url"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Not unpacked, 0600, the server's Last-Modified as mtime; a URL
  // without a file name gives __unnamed__.
  r = cor({"exec", "tests/add-url", "--", "sh", "-c",
           "stat -c '%a %Y' /opt/tool.sh; cat /opt/checked; stat -c %a /opt/index/__unnamed__"});
  EXPECT_EQ(r.out, "600 1600000000\necho tool\n755\n") << r.err;

  // A wrong checksum fails the build and names both digests.
  std::string bad = "sha256:" + std::string(64, '0');
  write("Dockerfile", "FROM default\nADD --checksum=" + bad + " " + base + "/dl/tool.sh /t\n");
  r = build({"--network", "host", "-t", "tests/add-url-bad"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("Dockerfile:2: ADD " + base + "/dl/tool.sh: checksum mismatch"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("sha256:" + good), std::string::npos) << r.err;
  EXPECT_NE(cor({"image", "inspect", "tests/add-url-bad"}).exit_code, 0);
  // A missing file is the server's status; --checksum with a local source
  // and COPY of a URL are refused as BuildKit refuses them.
  write("Dockerfile", "FROM default\nADD " + base + "/nope /t\n");
  r = build({"--network", "host", "-t", "tests/add-url-404"});
  EXPECT_NE(r.err.find("the server answered HTTP 404"), std::string::npos) << r.err;
  write("Dockerfile", "FROM default\nADD --checksum=" + bad + " Dockerfile /t\n");
  EXPECT_NE(build({"-t", "tests/add-local-checksum"}).err.find("--checksum is for ADD of http(s)"),
            std::string::npos);
  write("Dockerfile", "FROM default\nCOPY " + base + "/dl/tool.sh /t\n");
  EXPECT_NE(build({"-t", "tests/copy-url"}).err.find("a URL is a source for ADD only"),
            std::string::npos);

  // The default network (pasta) does not reach the host's loopback, by
  // address or by a name that resolves there; --network none has none.
  for (const std::string& host : {std::string("127.0.0.1"), std::string("localhost")}) {
    write("Dockerfile",
          "FROM default\nADD http://" + host + ":" + std::to_string(port) + "/dl/tool.sh /t\n");
    r = build({"-t", "tests/add-url-loopback"});
    EXPECT_EQ(r.exit_code, 125) << host;
    EXPECT_NE(r.err.find("an address of the host itself"), std::string::npos) << r.err;
  }
  r = build({"--network", "none", "-t", "tests/add-url-none"});
  EXPECT_NE(r.err.find("the build has no network"), std::string::npos) << r.err;
  // The server saw only the host-network builds' three requests.
  EXPECT_EQ(count_occurrences(read_file(work.path() + "/http.log"), "GET /dl/tool.sh"), 3);
}

}  // namespace
}  // namespace coracle::test
