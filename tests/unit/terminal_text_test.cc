// The one sanitiser, byte by byte: every escape sequence goes whole,
// controls and what is not UTF-8 become '?', text stays text.
#include <gtest/gtest.h>

#include "common/terminal_text.h"

namespace coracle {
namespace {

std::string safe(std::string_view s, TerminalLines lines = TerminalLines::kMany) {
  return terminal_safe(s, lines);
}

TEST(TerminalText, EscapeSequencesGoWhole) {
  EXPECT_EQ(safe("a\x1b[2Jb"), "ab");                    // CSI
  EXPECT_EQ(safe("a\x1b[38;5;196mred\x1b[0m"), "ared");  // SGR
  EXPECT_EQ(safe("a\x1b]52;c;c3RvbGVu\x07"
                 "b"),
            "ab");                                // OSC 52, BEL
  EXPECT_EQ(safe("a\x1b]0;title\x1b\\b"), "ab");  // OSC 0, ST
  EXPECT_EQ(safe("a\x1bP1$r\x1b\\b"), "ab");      // DCS
  EXPECT_EQ(safe("a\x1b_apc\xc2\x9c"
                 "b"),
            "ab");  // APC, C1 ST
  EXPECT_EQ(safe("a\x1b"
                 "cb"),
            "ab");                                  // ESC c: reset
  EXPECT_EQ(safe("a\x1b(Bb"), "ab");                // charset
  EXPECT_EQ(safe("a\x1b]52;c;unterminated"), "a");  // to the end
  EXPECT_EQ(safe("a\x1b"), "a");
}

TEST(TerminalText, ControlsAndNonUtf8BecomeQuestionMarks) {
  EXPECT_EQ(safe("a\x07"
                 "b\x08"
                 "c\x7f"
                 "d"),
            "a?b?c?d");
  EXPECT_EQ(safe("\xc2\x9b"
                 "31m"),
            "?31m");  // C1 CSI as UTF-8
  EXPECT_EQ(safe("\x9b"
                 "31m"),
            "?31m");                       // a raw 8-bit CSI
  EXPECT_EQ(safe("\xc0\xaf"), "??");       // overlong '/'
  EXPECT_EQ(safe("\xed\xa0\x80"), "???");  // a surrogate
  EXPECT_EQ(safe("\xe2\x80\xae"
                 "txt.exe"),
            "?txt.exe");  // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(safe("\xe2\x81\xa6"
                 "x"),
            "?x");  // LEFT-TO-RIGHT ISOLATE
}

TEST(TerminalText, TextStaysText) {
  EXPECT_EQ(safe("plain, tabs\tand UTF-8: caf\xc3\xa9 \xe2\x94\x81 \xf0\x9f\x9a\xa2"),
            "plain, tabs\tand UTF-8: caf\xc3\xa9 \xe2\x94\x81 \xf0\x9f\x9a\xa2");
  EXPECT_EQ(safe("\xc2\xa0nbsp"), "\xc2\xa0nbsp");
}

TEST(TerminalText, LinesAsAsked) {
  EXPECT_EQ(safe("one\ntwo\r\nthree"), "one\ntwo\nthree");
  // A lone CR would let a line be printed over the one before it.
  EXPECT_EQ(safe("innocent\rEVIL"), "innocent\nEVIL");
  EXPECT_EQ(safe("name\nsecond\rthird", TerminalLines::kOne), "name?second?third");
}

}  // namespace
}  // namespace coracle
