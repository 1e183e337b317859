// Ayup's own kind of assistants and apps, end to end, on a stand-in for
// python:3.12-slim made from this host's Debian python3, pip and Flask
// (tests/fixtures/make_python_rootfs.sh; Docker Hub is out of reach): an
// assistant that writes a Flask app and hands over to builtin:python, an
// app with only __main__.py and requirements.txt found by detection, both
// served on port 5000 through builtin:exec; a Python assistant whose pip
// cache mount outlives its builds; .ayup-env found nowhere in the store.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "chain_fixture.h"
#include "test_host.h"

namespace coracle::test {
namespace {

using nlohmann::json;

constexpr const char* kPythonImage = "docker.io/library/python:3.12-slim";

// GET / from 127.0.0.1:port; the whole response ("" when nothing answers).
std::string http_get(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string request = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    (void)!write(fd, request.data(), request.size());
    read_to_end(fd, response);
  }
  close(fd);
  return response;
}

class AyupTest : public ChainFixture {
 protected:
  // The stand-in image as an oci-archive, made once in the build tree for
  // every test process (ctest runs each test alone) under a lock, named by
  // the fixture script's hash so that a changed script makes a new one.
  static std::string archive() {
    static std::string path = [] {
      std::string script = std::string(CORACLE_FIXTURES) + "/make_python_rootfs.sh";
      std::string hash = run_sh("sha256sum " + script + " | cut -c1-12");
      hash.pop_back();
      std::string dir = CORACLE_TEST_CACHE, tar = dir + "/python-stand-in-" + hash + ".tar";
      std::string work = dir + "/python-work";
      run_sh("mkdir -p " + dir + " && flock " + dir + "/.python.lock sh -ec '" + "test -f " + tar +
             " && exit 0; rm -rf " + work + "; " + script + " " + work +
             "/ctx/rootfs; printf \"FROM scratch\\nCOPY rootfs/ /\\n"
             "ENV PATH=/usr/local/bin:/usr/bin:/bin\\nCMD [\\\"python3\\\"]\\n\" > " +
             work + "/ctx/Dockerfile; " + CORACLE_BIN + " --root " + work +
             "/store build -q -o oci-archive:" + tar + ".tmp -t python-stand-in " + work +
             "/ctx >/dev/null; mv " + tar + ".tmp " + tar + "; rm -rf " + work + "'");
      return tar;
    }();
    return path;
  }

  void SetUp() override {
    ChainFixture::SetUp();
    auto r = cor({"image", "import", archive(), "--tag", kPythonImage});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Runs the chain in the background until the app's port 5000 opens;
  // returns what GET / answers there, then stops coracle.
  std::string serve_and_get(std::vector<std::string> extra, std::string* events = nullptr) {
    std::vector<std::string> args = {"--root", store.path(), "run", app(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    int out = -1;
    pid_t pid = spawn_coracle(args, &out);
    std::string seen = read_until(out, "\"port.open\"", 120000);
    int host_port = 0;
    for (const auto& line : lines_with(seen, "{")) {
      json e = json::parse(line, nullptr, false);
      if (e.is_object() && e.value("event", "") == "port.open" && e.value("port", 0) == 5000)
        host_port = e.value("host_port", 0);
    }
    std::string response;
    // Flask listens a moment after the socket opens: a few tries.
    for (int i = 0; i < 50 && host_port && response.find("200 OK") == std::string::npos; ++i) {
      response = http_get(host_port);
      if (response.empty()) usleep(100000);
    }
    kill(pid, SIGTERM);
    wait_coracle(pid);
    close(out);
    if (events) *events = seen;
    EXPECT_NE(host_port, 0) << seen;
    return response;
  }

  // Every blob (decompressed) and every unpacked layer: where text is.
  std::string store_hits(const std::string& text) {
    return run_sh("cd " + store.path() +
                  " && { for b in oci/blobs/sha256/*; do zcat -f $b | grep -a -c -F '" + text +
                  "' | grep -v '^0$' | sed \"s|^|$b: |\"; done; grep -r -l -F '" + text +
                  "' layers build-cache 2>/dev/null; } || true");
  }
};

TEST_F(AyupTest, AnAssistantWritesAFlaskAppThatBuiltinPythonBuildsAndExecServes) {
  // As Ayup's example `test` assistant: a Python program that writes
  // __main__.py and names builtin:python next. Its .ayup-env holds a
  // secret the step uses and nothing keeps.
  std::string dir = work.path() + "/test-assistant";
  mkdir_p(dir);
  write_file_atomic(dir + "/name", "test\n");
  write_file_atomic(dir + "/Dockerfile",
                    "FROM python:3.12-slim\nENV PYTHONUNBUFFERED=True\n"
                    "COPY --chmod=555 . /assistant\nENTRYPOINT [\"/assistant/cmd\"]\n");
  write_file_atomic(dir + "/cmd", R"PY(#!/usr/bin/env python
import os
app = '''from flask import Flask

app = Flask(__name__)

@app.route('/')
def hello():
    return 'Hello from a Flask app an assistant wrote (secret of %d characters)'

if __name__ == '__main__':
    app.run(host='0.0.0.0', port=5000)
''' % len(os.environ.get('GREETING_SECRET', ''))
with open('/out/app/__main__.py', 'w') as f:
    f.write(app)
with open('/out/state/next', 'w') as f:
    f.write('builtin:python')
print('wrote /out/app/__main__.py')
)PY");
  const std::string secret = "s3cr3t-from-ayup-env-7f2c";
  write_file_atomic(dir + "/.ayup-env", "GREETING_SECRET=" + secret + "\n");

  std::string events;
  std::string response = serve_and_get({"--assistant", dir}, &events);
  EXPECT_NE(response.find("200 OK"), std::string::npos) << response;
  EXPECT_NE(response.find("Hello from a Flask app an assistant wrote (secret of 25 characters)"),
            std::string::npos)
      << response;
  // The chain: the assistant, builtin:python, builtin:exec.
  EXPECT_NE(events.find("\"assistant\":\"builtin:python\""), std::string::npos) << events;
  // .ayup-env: in no blob, no layer, no cache record, no event.
  EXPECT_EQ(events.find(secret), std::string::npos);
  EXPECT_EQ(store_hits(secret), "");
  EXPECT_EQ(run_sh("for b in " + store.path() +
                   "/oci/blobs/sha256/*; do tar -tzf $b 2>/dev/null; done | grep -c ayup-env "
                   "|| true"),
            "0\n");
}

TEST_F(AyupTest, AFolderWithMainPyAndRequirementsIsDetectedAsPython) {
  // As Ayup's hello-world-flask: no Dockerfile, no .ayup.
  write_file_atomic(app() + "/requirements.txt", "flask\n");
  write_file_atomic(app() + "/__main__.py",
                    "from flask import Flask\napp = Flask(__name__)\n\n"
                    "@app.route('/')\ndef hello():\n    return 'Hello, World!'\n\n"
                    "if __name__ == '__main__':\n    app.run(host='0.0.0.0', port=5000)\n");
  std::string events;
  std::string response = serve_and_get({}, &events);
  EXPECT_NE(response.find("Hello, World!"), std::string::npos) << response;
  bool python_step = false;
  for (const auto& line : lines_with(events, "{")) {
    json e = json::parse(line, nullptr, false);
    python_step |= e.is_object() && e.value("event", "") == "step.start" &&
                   e.value("assistant", "") == "builtin:python";
  }
  EXPECT_TRUE(python_step) << events;
  // builtin:python's state, as Ayup writes it.
  EXPECT_EQ(read_file(app() + "/.ayup/cmd"), R"(["python", "__main__.py"])");
  EXPECT_EQ(read_file(app() + "/.ayup/workingdir"), "/app");
  EXPECT_EQ(read_file(app() + "/.ayup/ports"), "[5000]");
}

TEST_F(AyupTest, HelloWorldFlaskWithoutRequirementsGetsThemGuessedAndInstalled) {
  // Ayup's hello-world-flask as it is: __main__.py alone. builtin:python
  // guesses flask from its imports and, the answer being yes, installs it.
  write_file_atomic(app() + "/__main__.py",
                    "from flask import Flask\napp = Flask(__name__)\n\n"
                    "@app.route('/')\ndef hello():\n    return 'Hello, World!'\n\n"
                    "if __name__ == '__main__':\n    app.run(host='0.0.0.0', port=5000)\n");
  std::string events;
  std::string response = serve_and_get({"--yes"}, &events);
  EXPECT_NE(response.find("Hello, World!"), std::string::npos) << response;
  bool asked = false;
  for (const auto& line : lines_with(events, "{")) {
    json e = json::parse(line, nullptr, false);
    if (e.is_object() && e.value("event", "") == "python.requirements") {
      asked = true;
      EXPECT_EQ(e["guessed"], json({"flask"})) << line;
      EXPECT_EQ(e["install"], true) << line;
    }
  }
  EXPECT_TRUE(asked) << events;
}

TEST_F(AyupTest, GuessedRequirementsComeFromTheCallersPackageIndex) {
  // A site with its own index (PIP_INDEX_URL, with a password in it) on a
  // test host; the app imports a package only that index has.
  TestHost index;
  std::string wheel_dir = work.path() + "/wheel";
  mkdir_p(wheel_dir);
  run_sh("cd " + wheel_dir +
         " && python3 - <<'PY'\n"
         "import zipfile, hashlib, base64\n"
         "files = {'coracletestpkg/__init__.py': 'VALUE = 42\\n',\n"
         "  'coracletestpkg-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\\nName: "
         "coracletestpkg\\nVersion: 1.0\\n',\n"
         "  'coracletestpkg-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\\nGenerator: "
         "test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'}\n"
         "record = ''.join('%s,sha256=%s,%d\\n' % (n, "
         "base64.urlsafe_b64encode(hashlib.sha256(d.encode()).digest()).rstrip(b'=').decode(), "
         "len(d)) for n, d in files.items())\n"
         "files['coracletestpkg-1.0.dist-info/RECORD'] = record + "
         "'coracletestpkg-1.0.dist-info/RECORD,,\\n'\n"
         "with zipfile.ZipFile('coracletestpkg-1.0-py3-none-any.whl', 'w') as z:\n"
         "    [z.writestr(n, d) for n, d in files.items()]\n"
         "PY\n");
  index.serve("files/coracletestpkg-1.0-py3-none-any.whl",
              read_file(wheel_dir + "/coracletestpkg-1.0-py3-none-any.whl"));
  index.serve("simple/coracletestpkg/index.html",
              "<html><body><a href=\"../../files/coracletestpkg-1.0-py3-none-any.whl\">"
              "coracletestpkg-1.0-py3-none-any.whl</a></body></html>\n");
  write_file_atomic(app() + "/__main__.py",
                    "import coracletestpkg\nprint('value', coracletestpkg.VALUE)\n");
  RunOptions env;
  std::string url =
      "http://user:pw-7c1e@" + index.ip() + ":" + std::to_string(index.port()) + "/simple";
  env.env = {"PIP_INDEX_URL=" + url, "PIP_TRUSTED_HOST=" + index.ip()};
  auto r = cor({"run", app(), "--yes"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("value 42"), std::string::npos) << r.out << r.err;
  EXPECT_NE(
      r.err.find("from the app's imports: coracletestpkg. Install them with pip? yes (--yes)"),
      std::string::npos)
      << r.err;
  // The index URL's password is in no blob, layer or cache entry.
  EXPECT_EQ(store_hits("pw-7c1e"), "");
  // Answered no: nothing installed, and the app says what it lacks.
  env.env.push_back("CORACLE_ASSUME=no");
  write_file_atomic(app() + "/__main__.py",
                    "import coracletestpkg  # changed\nprint('value', coracletestpkg.VALUE)\n");
  r = cor({"run", app()}, env);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("nothing is installed with pip"), std::string::npos) << r.err;
  EXPECT_NE((r.out + r.err).find("No module named 'coracletestpkg'"), std::string::npos) << r.err;
}

TEST_F(AyupTest, APythonAssistantsPipCacheOutlivesItsBuilds) {
  // As Ayup's `prem` assistant: RUN --mount=type=cache,target=/root/.cache/pip
  // pip install .... pip builds a wheel from a local sdist and keeps it
  // in its cache; the next build's pip finds it there.
  std::string dir = work.path() + "/pip-assistant";
  mkdir_p(dir + "/pkgs/greeting-1.0");
  write_file_atomic(dir + "/pkgs/greeting-1.0/greeting.py", "def hello():\n    return 'hi'\n");
  write_file_atomic(dir + "/pkgs/greeting-1.0/setup.py",
                    "from setuptools import setup\n"
                    "setup(name='greeting', version='1.0', py_modules=['greeting'])\n");
  run_sh("cd " + dir + "/pkgs && tar czf greeting-1.0.tar.gz greeting-1.0 && rm -r greeting-1.0");
  write_file_atomic(dir + "/name", "pip-user\n");
  write_file_atomic(dir + "/Dockerfile", R"DF(FROM python:3.12-slim
COPY pkgs /pkgs
RUN --mount=type=cache,target=/root/.cache/pip \
    find /root/.cache/pip -name '*.whl' | wc -l > /wheels-in-cache && \
    pip install --no-build-isolation /pkgs/greeting-1.0.tar.gz
COPY --chmod=555 cmd /assistant/cmd
ENTRYPOINT ["/assistant/cmd"]
)DF");
  write_file_atomic(dir + "/cmd",
                    "#!/bin/sh\ncat /wheels-in-cache > /out/app/wheels-in-cache\n"
                    "python -c 'import greeting; print(greeting.hello())' > /out/app/hello\n");
  auto r = run({"--assistant", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/hello"), "hi\n");
  EXPECT_EQ(read_file(app() + "/wheels-in-cache"), "0\n");
  // A change to the context reruns the pip step: the cache has the wheel.
  write_file_atomic(dir + "/pkgs/NOTES", "rebuilt\n");
  r = run({"--assistant", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(app() + "/wheels-in-cache"), "1\n");
  EXPECT_EQ(read_file(app() + "/hello"), "hi\n");
}

}  // namespace
}  // namespace coracle::test
