// The one sanitiser: every string that came from outside (an image, a
// registry, a Dockerfile, a config.json, a guest, a step's or a RUN's
// output, and any error that quotes one) passes through here on its way to
// a terminal. A terminal obeys what it is sent: OSC 52 writes the user's
// clipboard, OSC 0 the window title, CSI moves the cursor over what was
// printed before, and an 8-bit C1 byte (0x9b is CSI) does the same on
// terminals that take them.
//
// What passes: printable ASCII, valid UTF-8 other than controls, and tab;
// newline where the text may hold several lines. What goes: every escape
// sequence whole (CSI, OSC, DCS, SOS, PM, APC and two-byte ESC X), so no
// parameters are left behind as garbage. What becomes '?': other C0
// controls, DEL, C1 controls (U+0080..U+009F), bytes that are not UTF-8,
// and the bidirectional overrides that make text read other than it is
// (U+202A..U+202E, U+2066..U+2069).
#pragma once
#include <string>
#include <string_view>

namespace coracle {

enum class TerminalLines {
  kOne,   // a name or a message: a newline or CR becomes '?'
  kMany,  // output: newlines stay; a CR that does not end a line is one
};

std::string terminal_safe(std::string_view text, TerminalLines lines = TerminalLines::kMany);

// "coracle: MESSAGE" on stderr, made safe, in one write.
void print_error(std::string_view message);

}  // namespace coracle
