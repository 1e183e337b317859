// Where coracle keeps its store: --root / CORACLE_ROOT, else /var/lib/coracle
// as root and $XDG_DATA_HOME/coracle (~/.local/share/coracle) rootless.
#pragma once
#include <string>

namespace coracle {

std::string default_store_root();

}  // namespace coracle
