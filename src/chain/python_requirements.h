// What builtin:python installs for an app without requirements.txt, as
// Ayup's python assistant offers with pipreqs: the distributions its
// imports need, guessed from its own files. A plain function of a folder,
// for unit tests over example apps.
#pragma once
#include <string>
#include <vector>

namespace coracle::chain {

// The distributions (pip names, sorted, each once) that app_dir's Python
// files import at the top level: neither the standard library nor the
// app's own modules; import names mapped to distribution names where they
// differ in the common cases (yaml is PyYAML, cv2 is opencv-python). Reads
// at most a few thousand files; skips virtualenvs, .git and caches.
std::vector<std::string> guess_requirements(const std::string& app_dir);

// The distribution an import name comes from: the table's, else the name.
std::string distribution_of(const std::string& import_name);

// Whether text is a distribution name pip takes as one word (PEP 508's
// name characters): what goes into a RUN line unquoted.
bool is_distribution_name(const std::string& text);

}  // namespace coracle::chain
