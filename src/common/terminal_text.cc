#include "common/terminal_text.h"

#include <unistd.h>

#include <cstdint>

namespace coracle {
namespace {

constexpr unsigned char kEsc = 0x1b, kBel = 0x07;

// The length of the UTF-8 sequence at text[i] and its code point; 0 when
// the bytes there are not UTF-8 (overlong, surrogate, cut short, stray).
size_t utf8_at(std::string_view text, size_t i, uint32_t& cp) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char b = byte(i);
  size_t len = b < 0x80             ? 1
               : (b & 0xe0) == 0xc0 ? 2
               : (b & 0xf0) == 0xe0 ? 3
               : (b & 0xf8) == 0xf0 ? 4
                                    : 0;
  if (len == 0 || i + len > text.size()) return 0;
  cp = len == 1 ? b : len == 2 ? b & 0x1f : len == 3 ? b & 0x0f : b & 0x07;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// Where the escape sequence that starts at text[i] (an ESC) ends: the
// index just past it, or text.size() when it runs to the end.
size_t past_escape(std::string_view text, size_t i) {
  size_t n = text.size();
  if (i + 1 >= n) return n;
  char kind = text[i + 1];
  if (kind == '[') {  // CSI: parameters and intermediates, then a final byte
    size_t k = i + 2;
    while (k < n && !(text[k] >= '@' && text[k] <= '~')) ++k;
    return k < n ? k + 1 : n;
  }
  if (kind == ']' || kind == 'P' || kind == 'X' || kind == '^' || kind == '_') {
    // A string (OSC, DCS, SOS, PM, APC): to BEL, ESC \ or the C1 ST.
    for (size_t k = i + 2; k < n; ++k) {
      auto c = static_cast<unsigned char>(text[k]);
      if (c == kBel) return k + 1;
      if (c == kEsc && k + 1 < n && text[k + 1] == '\\') return k + 2;
      if (c == 0x9c) return k + 1;
      if (c == 0xc2 && k + 1 < n && static_cast<unsigned char>(text[k + 1]) == 0x9c) return k + 2;
    }
    return n;
  }
  // ESC, intermediates (0x20..0x2f), one final byte: ESC c, ESC ( B, ...
  size_t k = i + 1;
  while (k < n && text[k] >= 0x20 && text[k] <= 0x2f) ++k;
  return k < n ? k + 1 : n;
}

bool is_bidi_control(uint32_t cp) {
  return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

std::string terminal_safe(std::string_view text, TerminalLines lines) {
  std::string out;
  out.reserve(text.size());
  bool many = lines == TerminalLines::kMany;
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == kEsc) {
      i = past_escape(text, i);
      continue;
    }
    if (c == '\n' || c == '\r') {
      // CR LF is one line end; a lone CR (a progress bar redrawing its
      // line) would let a line hide the one before it.
      bool crlf = c == '\r' && i + 1 < text.size() && text[i + 1] == '\n';
      if (!crlf) out += many ? '\n' : '?';
      ++i;
      continue;
    }
    if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    uint32_t cp = 0;
    size_t len = c < 0x80 ? 0 : utf8_at(text, i, cp);
    if (len == 0 || cp < 0xa0 || is_bidi_control(cp)) {
      out += '?';  // C0, DEL, C1, not UTF-8, or a bidi override
      i += len ? len : 1;
      continue;
    }
    out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

void print_error(std::string_view message) {
  std::string line = "coracle: " + terminal_safe(message) + "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace coracle
