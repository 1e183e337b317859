// RUN --mount through the real binary: cache mounts kept across builds,
// tmpfs, secrets (readable in their RUN, found nowhere in the store) and
// bind mounts (a private copy whose content is in the cache key).
#include "build_fixture.h"

namespace coracle::test {
namespace {

TEST_F(BuildTest, ACacheMountOutlivesBuildsAndStaysOutOfTheLayer) {
  // Ayup's assistants: RUN --mount=type=cache,target=/root/.cache/pip pip install ...
  write("Dockerfile", R"(FROM default
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=tmpfs,target=/scratch \
    sh -c 'echo run >> /root/.cache/pip/log; wc -l < /root/.cache/pip/log > /count; echo x > /scratch/f'
)");
  for (int i = 1; i <= 2; ++i) {
    // --no-cache reruns the step; the cache mount keeps what the first run left.
    auto r = build({"--no-cache", "-t", "tests/cache-mount"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = cor({"exec", "tests/cache-mount", "--", "sh", "-c",
             "cat /count; test -e /root/.cache || echo no-cache-dir; "
             "test -e /scratch || echo no-scratch"});
    EXPECT_EQ(r.out, std::to_string(i) + "\nno-cache-dir\nno-scratch\n") << r.err;
  }
  // What coracle does not take is refused, naming the line.
  write("Dockerfile", "FROM default\nRUN --mount=type=ssh true\n");
  auto r = build({"-t", "tests/ssh-mount"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("Dockerfile:2: RUN --mount=type=ssh is not supported"), std::string::npos)
      << r.err;
}

TEST_F(BuildTest, ASecretReachesItsRunOnlyAndNoLayerCacheOrEvent) {
  const std::string value = "tok-8f1c2a-never-kept";
  write_file_atomic(work.path() + "/token", value);
  write("Dockerfile", R"DF(FROM default
RUN --mount=type=secret,id=tok sh -c 'wc -c < /run/secrets/tok > /len; stat -c "%a %u" /run/secrets/tok > /mode'
RUN --mount=type=secret,id=tok,env=TOK,target=/tok2,uid=1000,mode=0440 \
    sh -c 'test "$TOK" = "$(cat /tok2)" && echo same > /same; stat -c "%a %u" /tok2 > /mode2'
RUN --mount=type=secret,id=absent sh -c 'test -e /run/secrets/absent || echo skipped > /skipped'
)DF");
  auto r =
      build({"--json", "--secret", "id=tok,src=" + work.path() + "/token", "-t", "tests/secret"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find(value), std::string::npos);
  EXPECT_EQ(r.err.find(value), std::string::npos);
  r = cor({"exec", "tests/secret", "--", "sh", "-c",
           "cat /len /mode /same /mode2 /skipped; test -e /run || echo no-run; test -e /tok2 || "
           "echo no-tok2"});
  EXPECT_EQ(r.out,
            std::to_string(value.size()) + "\n400 0\nsame\n440 1000\nskipped\nno-run\nno-tok2\n")
      << r.err;
  // Nowhere in the store: no layer blob (decompressed), no config or
  // history, no cache record, no unpacked layer.
  EXPECT_EQ(run_sh("for b in " + store.path() +
                   "/oci/blobs/sha256/*; do zcat -f $b; done | "
                   "grep -c " +
                   value + " || true"),
            "0\n");
  EXPECT_EQ(run_sh("grep -r -l " + value + " " + store.path() + " || true"), "");
  // The secret is not part of the cache key (as in BuildKit): another
  // value reuses the steps.
  r = build({"--secret", "id=tok,env=OTHER_TOKEN", "-t", "tests/secret"});
  EXPECT_NE(r.exit_code, 0);  // $OTHER_TOKEN is not set
  EXPECT_NE(r.err.find("$OTHER_TOKEN is not set"), std::string::npos) << r.err;
  RunOptions with_env;
  with_env.env = {"OTHER_TOKEN=another"};
  r = cor({"build", "--json", "--secret", "id=tok,env=OTHER_TOKEN", "-t", "tests/secret", ctx()},
          with_env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(events(r.out, "build.cached").size(), 3u) << r.out;
  // required=true: a build without the secret fails, naming the line.
  write("Dockerfile", "FROM default\nRUN --mount=type=secret,id=tok,required=true true\n");
  r = build({"-t", "tests/secret-required"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("Dockerfile:2: RUN --mount=type=secret,id=tok: no secret tok was given"),
            std::string::npos)
      << r.err;
}

TEST_F(BuildTest, BindMountsShowAPrivateCopyWhoseContentIsInTheKey) {
  write("req.txt", "flask==3.0\n");
  write("secret.env", "KEY=1\n");
  write(".dockerignore", "secret.env\n");
  write("Dockerfile", R"DF(FROM default AS tools
RUN mkdir /tooldir && echo t > /tooldir/x
FROM default
RUN --mount=type=bind,source=req.txt,target=/tmp/req.txt cat /tmp/req.txt > /copied-req
RUN --mount=type=bind,target=/ctx sh -c 'ls -A /ctx > /ctx-list; (echo w > /ctx/new) 2>/dev/null || echo read-only > /ro'
RUN --mount=type=bind,target=/ctx2,rw sh -c 'echo scribble > /ctx2/req.txt && cat /ctx2/req.txt > /rw'
RUN --mount=type=bind,from=tools,source=/tooldir,target=/mnt/tools cat /mnt/tools/x > /tool
)DF");
  auto r = build({"-t", "tests/bind"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cor({"exec", "tests/bind", "--", "sh", "-c",
           "cat /copied-req /ctx-list /ro /rw /tool; ls /tmp; "
           "for d in /ctx /ctx2 /mnt; do test -e $d || echo no-$d; done"});
  EXPECT_EQ(r.out,
            "flask==3.0\n.dockerignore\nDockerfile\nreq.txt\nread-only\nscribble\nt\n"
            "no-/ctx\nno-/ctx2\nno-/mnt\n")
      << r.err;
  // What the RUN wrote through rw went to its copy, not the context.
  EXPECT_EQ(read_file(ctx() + "/req.txt"), "flask==3.0\n");
  // A changed source reruns the steps that mount it (and those after).
  r = build({"--json", "-t", "tests/bind"});
  EXPECT_EQ(events(r.out, "build.cached").size(), 5u) << r.out;
  write("req.txt", "flask==3.1\n");
  r = build({"--json", "-t", "tests/bind"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(events(r.out, "build.cached").size(), 1u) << r.out;  // the tools stage
  EXPECT_EQ(cor({"exec", "tests/bind", "--", "cat", "/copied-req"}).out, "flask==3.1\n");
  // A source outside the context is refused, as for COPY.
  write("Dockerfile", "FROM default\nRUN --mount=type=bind,source=../x,target=/x true\n");
  r = build({"-t", "tests/bind-escape"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_NE(r.err.find("Dockerfile:2"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coracle::test
