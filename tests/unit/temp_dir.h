// A fresh directory under /tmp for one unit test, removed afterwards.
#pragma once
#include <cstdlib>
#include <string>

#include "common/fs.h"

namespace coracle::test {

struct UnitTempDir {
  std::string path;
  UnitTempDir() {
    char tmpl[] = "/tmp/coracle-unit-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~UnitTempDir() { remove_tree(path); }
};

}  // namespace coracle::test
