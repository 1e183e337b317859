// builtin:python's guess of an app's requirements from its imports, over
// example apps: Ayup's hello-world Flask app, a package of the app's own,
// the standard library, relative imports, names pip spells otherwise.
#include "chain/python_requirements.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/fs.h"

namespace coracle::chain {
namespace {

class Guess : public ::testing::Test {
 protected:
  std::string dir;
  void SetUp() override {
    char tmpl[] = "/tmp/coracle-guess-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  void TearDown() override { remove_tree(dir); }
  void file(const std::string& rel, const std::string& text) {
    std::string path = dir + "/" + rel;
    mkdir_p(path.substr(0, path.rfind('/')));
    write_file_atomic(path, text);
  }
};

TEST_F(Guess, AyupsHelloWorldFlask) {
  file("__main__.py",
       "from flask import Flask\n\napp = Flask(__name__)\n\n@app.route('/')\n"
       "def hello_world():\n    return 'Hello, World!'\n\napp.run(host='0.0.0.0')\n");
  EXPECT_EQ(guess_requirements(dir), std::vector<std::string>{"flask"});
}

TEST_F(Guess, TheStandardLibraryAndTheAppsOwnModulesAreLeftOut) {
  file("__main__.py",
       "import os, sys, json as j\nimport collections.abc\nfrom typing import List\n"
       "import helpers\nfrom mypkg.sub import thing\nfrom . import sibling\nfrom .x import y\n"
       "from __future__ import annotations\nimport requests  # the one to install\n"
       "    import numpy as np\n# import pandas\n");
  file("helpers.py", "import yaml, cv2\nfrom PIL import Image\nfrom bs4 import BeautifulSoup\n");
  file("mypkg/__init__.py", "");
  file("mypkg/sub.py", "from sklearn.linear_model import LinearRegression\n");
  EXPECT_EQ(guess_requirements(dir),
            (std::vector<std::string>{"Pillow", "PyYAML", "beautifulsoup4", "numpy",
                                      "opencv-python", "requests", "scikit-learn"}));
}

TEST_F(Guess, VirtualenvsGitAndCachesAreNotTheApps) {
  file("app.py", "import flask\n");
  file(".venv/lib/python3.12/site-packages/werkzeug/x.py", "import markupsafe\n");
  file("venv/lib/y.py", "import jinja2\n");
  file(".git/hooks/z.py", "import nothing\n");
  file("__pycache__/q.py", "import cached\n");
  EXPECT_EQ(guess_requirements(dir), std::vector<std::string>{"flask"});
}

TEST_F(Guess, NothingToInstall) {
  file("__main__.py", "import http.server\nprint('hi')\n");
  EXPECT_TRUE(guess_requirements(dir).empty());
  EXPECT_EQ(distribution_of("yaml"), "PyYAML");
  EXPECT_EQ(distribution_of("flask"), "flask");
  EXPECT_TRUE(is_distribution_name("python-dateutil"));
  EXPECT_FALSE(is_distribution_name("x; rm -rf /"));
  EXPECT_FALSE(is_distribution_name("-e"));
}

}  // namespace
}  // namespace coracle::chain
