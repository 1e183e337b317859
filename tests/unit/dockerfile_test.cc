// The Dockerfile front end: the parser, BuildKit's word expansion and
// .dockerignore, on the cases docker users write.
#include <gtest/gtest.h>

#include <map>

#include "builder/dockerfile/dockerfile.h"
#include "builder/dockerfile/dockerignore.h"
#include "builder/dockerfile/shell_words.h"
#include "common/error.h"

namespace coracle::builder {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_dockerfile(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Dockerfile, ReadsInstructionsFormsAndFlags) {
  Dockerfile df = parse_dockerfile(
      "# syntax=docker/dockerfile:1\n"
      "\n"
      "ARG BASE=busybox\n"
      "from --platform=linux/amd64 ${BASE} AS build\n"
      "RUN --mount=type=cache,target=/c echo hi\n"
      "COPY --from=build --chown=1:2 --chmod=0755 a b /dst/\n"
      "CMD [\"/bin/app\", \"--flag\"]\n"
      "ENTRYPOINT [not json\n"
      "HEALTHCHECK --interval=5s CMD true\n");
  EXPECT_EQ(df.syntax, "docker/dockerfile:1");
  ASSERT_EQ(df.instructions.size(), 7u);
  const auto& from = df.instructions[1];
  EXPECT_EQ(from.keyword, "FROM");
  EXPECT_EQ(from.line, 4);
  EXPECT_EQ(from.flag("platform"), "linux/amd64");
  EXPECT_EQ(from.args, "${BASE} AS build");
  EXPECT_EQ(df.instructions[2].flag("mount"), "type=cache,target=/c");
  EXPECT_EQ(df.instructions[2].args, "echo hi");
  const auto& copy = df.instructions[3];
  EXPECT_EQ(copy.flag("from"), "build");
  EXPECT_EQ(copy.flag("chown"), "1:2");
  EXPECT_EQ(copy.flag("chmod"), "0755");
  EXPECT_FALSE(copy.flag("link"));
  EXPECT_EQ(copy.args, "a b /dst/");
  ASSERT_TRUE(df.instructions[4].exec_form);
  EXPECT_EQ(*df.instructions[4].exec_form, (std::vector<std::string>{"/bin/app", "--flag"}));
  // Not valid JSON: the shell form, as docker does.
  EXPECT_FALSE(df.instructions[5].exec_form);
  EXPECT_EQ(df.instructions[5].args, "[not json");
  EXPECT_EQ(df.instructions[6].flag("interval"), "5s");
  EXPECT_EQ(df.instructions[6].args, "CMD true");
}

TEST(Dockerfile, ContinuationsSkipCommentsAndKeepLineNumbers) {
  Dockerfile df = parse_dockerfile(
      "FROM scratch\n"
      "RUN apk add \\\n"
      "# a comment inside\n"
      "    curl \\\n"
      "\n"
      "    git\n"
      "  # an indented comment\n"
      "ENV A=1\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.instructions[1].args, "apk add     curl     git");
  EXPECT_EQ(df.instructions[1].line, 2);
  EXPECT_EQ(df.instructions[2].line, 8);
  EXPECT_EQ(df.instructions[2].text, "ENV A=1");
}

TEST(Dockerfile, AnEscapedEscapeAtTheEndOfALineEndsTheInstruction) {
  // As BuildKit's parser reads it: a trailing escaped escape is a
  // character of the value (an escaped backslash), not a continuation.
  Dockerfile df = parse_dockerfile(
      "FROM scratch\n"
      "ENV C trailing\\\\backslash\\\\\n"
      "RUN true \\ \t\n"
      "  && false\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.instructions[1].args, "C trailing\\\\backslash\\\\");
  EXPECT_EQ(df.instructions[2].args, "true   && false");  // spaces after the escape: still one
  df = parse_dockerfile("# escape=`\nFROM scratch\nRUN a ``\nRUN b\n");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.instructions[1].args, "a ``");
}

TEST(Dockerfile, JsonFormsAndFlagEndsAsBuildKitsParser) {
  // A JSON array of anything but strings is an error; text that is not
  // JSON at all is the shell form.
  EXPECT_NE(error_of("FROM scratch\nCMD [\"a\", [\"b\"]]\n").find("Dockerfile:2: when using JSON"),
            std::string::npos);
  Dockerfile df = parse_dockerfile("FROM scratch\nCMD [not json\nCOPY -- src dest\n");
  EXPECT_FALSE(df.instructions[1].exec_form);
  EXPECT_EQ(df.instructions[1].args, "[not json");
  // "--" ends the flags.
  EXPECT_TRUE(df.instructions[2].flags.empty());
  EXPECT_EQ(df.instructions[2].args, "src dest");
  df = parse_dockerfile("FROM scratch\nCOPY --chown=1:1 -- a b\n");
  ASSERT_EQ(df.instructions[1].flags.size(), 1u);
  EXPECT_EQ(df.instructions[1].args, "a b");
}

TEST(Dockerfile, TheEscapeDirectiveChangesTheContinuationCharacter) {
  Dockerfile df = parse_dockerfile(
      "# escape=`\n"
      "FROM scratch\n"
      "RUN dir c:\\ `\n"
      "    /w\n");
  EXPECT_EQ(df.escape, '`');
  EXPECT_EQ(df.instructions[1].args, "dir c:\\     /w");
  // A directive after anything else is a comment.
  df = parse_dockerfile("# hello\n# escape=`\nFROM scratch\nRUN a \\\n b\n");
  EXPECT_EQ(df.escape, '\\');
  EXPECT_EQ(df.instructions[1].args, "a  b");
  EXPECT_NE(error_of("# escape=x\nFROM scratch\n").find("Dockerfile:1: escape must be"),
            std::string::npos);
  EXPECT_NE(error_of("# escape=`\n# escape=\\\nFROM scratch\n").find("Dockerfile:2: only one"),
            std::string::npos);
}

TEST(Dockerfile, HeredocDelimitersAsBuildKitReadsThem) {
  // Quotes anywhere in the delimiter word: its name without them, and no
  // expansion; "<<  EOF" (a space) is no heredoc; an fd number may lead.
  Dockerfile df = parse_dockerfile(
      "FROM scratch\n"
      "RUN <<eo'f'\n"
      "a $X\n"
      "eof\n"
      "RUN <<'one two'\n"
      "b\n"
      "one two\n"
      "RUN cat 3<<EOF\n"
      "c\n"
      "EOF\n"
      "RUN cat <<  EOF\n");
  ASSERT_EQ(df.instructions.size(), 5u);
  ASSERT_EQ(df.instructions[1].heredocs.size(), 1u);
  EXPECT_EQ(df.instructions[1].heredocs[0].name, "eof");
  EXPECT_FALSE(df.instructions[1].heredocs[0].expand);
  ASSERT_EQ(df.instructions[2].heredocs.size(), 1u);
  EXPECT_EQ(df.instructions[2].heredocs[0].name, "one two");
  EXPECT_EQ(df.instructions[2].heredocs[0].content, "b\n");
  ASSERT_EQ(df.instructions[3].heredocs.size(), 1u);
  EXPECT_EQ(df.instructions[3].heredocs[0].content, "c\n");
  EXPECT_TRUE(df.instructions[4].heredocs.empty());
}

TEST(Dockerfile, HeredocsForRunAndCopy) {
  Dockerfile df = parse_dockerfile(
      "FROM scratch\n"
      "RUN <<EOF\n"
      "echo $HOME\n"
      "  indented\n"
      "EOF\n"
      "COPY <<-\"A\" /a <<B /b\n"
      "\t\tliteral $X\n"
      "\tA\n"
      "second\n"
      "B\n"
      "RUN echo done << notaheredoc\n");
  ASSERT_EQ(df.instructions.size(), 4u);
  const auto& run = df.instructions[1];
  ASSERT_EQ(run.heredocs.size(), 1u);
  EXPECT_EQ(run.heredocs[0].name, "EOF");
  EXPECT_EQ(run.heredocs[0].content, "echo $HOME\n  indented\n");
  EXPECT_TRUE(run.heredocs[0].expand);
  const auto& copy = df.instructions[2];
  ASSERT_EQ(copy.heredocs.size(), 2u);
  EXPECT_EQ(copy.heredocs[0].content, "literal $X\n");  // <<- strips leading tabs
  EXPECT_FALSE(copy.heredocs[0].expand);                // a quoted delimiter
  EXPECT_EQ(copy.heredocs[1].content, "second\n");
  EXPECT_EQ(df.instructions[3].line, 11);
  EXPECT_NE(error_of("FROM scratch\nRUN <<EOF\necho\n")
                .find("Dockerfile:2: heredoc EOF is not terminated"),
            std::string::npos);
}

TEST(Dockerfile, BadInputIsRefusedWithItsLine) {
  EXPECT_EQ(error_of("FROM scratch\nFROBNICATE x\n"),
            "Dockerfile:2: unknown instruction: FROBNICATE");
  EXPECT_EQ(error_of("FROM scratch\n\nONBUILD MAINTAINER x\n"),
            "Dockerfile:3: MAINTAINER isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(error_of("FROM scratch\nONBUILD FROBNICATE\n"),
            "Dockerfile:2: unknown instruction in ONBUILD: FROBNICATE");
  EXPECT_EQ(error_of("FROM scratch\nRUN\n"), "Dockerfile:2: RUN needs an argument");
  EXPECT_EQ(error_of("FROM scratch\nCOPY --frm=x a b\n"), "Dockerfile:2: COPY has no flag --frm");
  EXPECT_EQ(error_of("FROM scratch\nENV --x=1 A=1\n"), "Dockerfile:2: ENV has no flag --x");
  EXPECT_NE(error_of("RUN true\nFROM scratch\n").find("Dockerfile:1: RUN before FROM"),
            std::string::npos);
  EXPECT_NE(error_of("# only a comment\n").find("no FROM instruction"), std::string::npos);
  EXPECT_NE(error_of("FROM scratch\nSHELL /bin/bash -c\n").find("Dockerfile:2: SHELL takes a JSON"),
            std::string::npos);
  // The name given is the one in messages (a -f FILE).
  try {
    parse_dockerfile("FROM scratch\nBAD\n", "app.Dockerfile");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "app.Dockerfile:2: unknown instruction: BAD");
  }
}

TEST(Dockerfile, WindowsLineEndingsAndNoFinalNewline) {
  Dockerfile df = parse_dockerfile("FROM scratch\r\nRUN a \\\r\n  b\r\nCMD x");
  ASSERT_EQ(df.instructions.size(), 3u);
  EXPECT_EQ(df.instructions[1].args, "a   b");
  EXPECT_EQ(df.instructions[2].args, "x");
}

ShellWords::Lookup vars(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ShellWords, ExpandsAsBuildKitDoes) {
  ShellWords w;
  auto env = vars({{"A", "a"}, {"EMPTY", ""}, {"SP", "x y"}});
  EXPECT_EQ(w.expand("$A/${A}/$B/$", env), "a/a//$");
  EXPECT_EQ(w.expand("${B:-def}${EMPTY:-e}${EMPTY-f}${A:-no}", env),
            "defe"
            "a");
  EXPECT_EQ(w.expand("${A:+alt}|${EMPTY:+alt}|${EMPTY+set}|${B+set}", env), "alt||set|");
  EXPECT_EQ(w.expand("${B:-${A}x}", env), "ax");
  EXPECT_EQ(w.expand("'$A' \"$A\" \\$A \"\\$A\" \"\\x\"", env), "$A a $A $A \\x");
  EXPECT_EQ(w.expand("$A_$A", env), "a");  // "A_" (unset), then "A"
  EXPECT_THROW(w.expand("${B:?needs B}", env), Error);
  EXPECT_THROW(w.expand("${A", env), Error);
  EXPECT_THROW(w.expand("'open", env), Error);
  EXPECT_THROW(w.expand("${A^^}", env), Error);  // bash's case change: not BuildKit's
  try {
    w.expand("${B?B must be set}", env);
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "B: B must be set");
  }
}

TEST(ShellWords, PatternSubstitutionsAndSpecialParametersAsTheDockerfileReference) {
  ShellWords w;
  auto env = vars({{"string", "foobarbaz"}, {"TARGETPLATFORM", "linux/amd64"}, {"P", "b"}});
  auto x = [&](const char* text) { return w.expand(text, env); };
  EXPECT_EQ(x("${string#*b}"), "arbaz");
  EXPECT_EQ(x("${string##*b}"), "az");
  EXPECT_EQ(x("${string%b*}"), "foobar");
  EXPECT_EQ(x("${string%%b*}"), "foo");
  EXPECT_EQ(x("${string/ba/fo}"), "fooforbaz");
  EXPECT_EQ(x("${string//ba/fo}"), "fooforfoz");
  EXPECT_EQ(x("${TARGETPLATFORM#linux/}"), "amd64");
  EXPECT_EQ(x("${string%$P*}"), "foobar");         // the pattern is expanded too
  EXPECT_EQ(x("${string#nomatch}"), "foobarbaz");  // no match: unchanged
  EXPECT_EQ(x("${unset#x}"), "");
  // Positional and special parameters: one character each, never set.
  EXPECT_EQ(x("$1x"), "x");
  EXPECT_EQ(x("a$@b"), "ab");
  EXPECT_EQ(x("$#$?$$"), "");
}

TEST(ShellWords, SplitsWordsOutsideQuotes) {
  ShellWords w;
  auto env = vars({{"SP", "x y"}, {"EMPTY", ""}});
  EXPECT_EQ(w.expand_words("a \"b c\" $SP 'd e' $EMPTY \"$EMPTY\"", env),
            (std::vector<std::string>{"a", "b c", "x", "y", "d e", ""}));
  // BuildKit splits after it substitutes (its words table): an unquoted
  // value's white space separates words, a quoted one's does not.
  auto spaced = vars({{"space", "abc  def"},
                      {"leading", "  ab c"},
                      {"trailing", "ab c   "},
                      {"PORTS", "3000 4000/udp"}});
  auto words = [&](const char* text) { return w.expand_words(text, spaced); };
  using V = std::vector<std::string>;
  EXPECT_EQ(words("hello${space}bye"), (V{"helloabc", "defbye"}));
  EXPECT_EQ(words("hello\"${space}\"bye"), (V{"helloabc  defbye"}));
  EXPECT_EQ(words("hello \"${space}\"bye"), (V{"hello", "abc  defbye"}));
  EXPECT_EQ(words("hello${leading}def"), (V{"hello", "ab", "cdef"}));
  EXPECT_EQ(words("hello\"${leading}\" def"), (V{"hello  ab c", "def"}));
  EXPECT_EQ(words("hello${leading}"), (V{"hello", "ab", "c"}));
  EXPECT_EQ(words("hello${trailing}"), (V{"helloab", "c"}));
  EXPECT_EQ(words("hello${trailing}d"), (V{"helloab", "c", "d"}));
  EXPECT_EQ(words("hello\"${trailing}\"d"), (V{"helloab c   d"}));
  EXPECT_EQ(words("$PORTS"), (V{"3000", "4000/udp"}));
  EXPECT_EQ(w.split("A=1 B=\"two words\" C='x y' D=a\\ b"),
            (std::vector<std::string>{"A=1", "B=\"two words\"", "C='x y'", "D=a\\ b"}));
  ShellWords tick('`');
  EXPECT_EQ(tick.expand("c:\\dir `$A", env), "c:\\dir $A");
}

TEST(DockerIgnore, MatchesAsDockerDoes) {
  DockerIgnore ignore(
      "# comment\n"
      "node_modules\n"
      "*.log\n"
      "/build/\n"
      "**/*.tmp\n"
      "docs/**\n"
      "!docs/keep.md\n"
      "src/[ab]?.c\n");
  EXPECT_TRUE(ignore.excluded("node_modules"));
  EXPECT_TRUE(ignore.excluded("node_modules/x/y.js"));  // through its parent
  EXPECT_FALSE(ignore.excluded("lib/node_modules"));    // patterns are rooted
  EXPECT_TRUE(ignore.excluded("debug.log"));
  EXPECT_FALSE(ignore.excluded("logs/debug.log"));  // '*' stays in one element
  EXPECT_TRUE(ignore.excluded("build/out.o"));
  EXPECT_TRUE(ignore.excluded("a.tmp"));
  EXPECT_TRUE(ignore.excluded("deep/er/b.tmp"));
  EXPECT_TRUE(ignore.excluded("docs/guide.md"));
  EXPECT_FALSE(ignore.excluded("docs/keep.md"));  // the exception comes last
  EXPECT_TRUE(ignore.excluded("src/a1.c"));
  EXPECT_FALSE(ignore.excluded("src/c1.c"));
  EXPECT_FALSE(ignore.excluded("Dockerfile"));
  EXPECT_FALSE(DockerIgnore("").excluded("anything"));
}

TEST(DockerIgnore, GlobDetails) {
  EXPECT_TRUE(glob_match("a/**/b", "a/b"));
  EXPECT_TRUE(glob_match("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(glob_match("a/**/b", "a/xb"));
  EXPECT_TRUE(glob_match("**", "any/thing"));
  EXPECT_TRUE(glob_match("[!a]", "b"));
  EXPECT_FALSE(glob_match("[^a]", "a"));
  EXPECT_TRUE(glob_match("[a-c]x", "bx"));
  EXPECT_TRUE(glob_match("\\*", "*"));
  EXPECT_FALSE(glob_match("\\*", "x"));
  EXPECT_FALSE(glob_match("?", "/"));
  // Characters, not bytes (Go's filepath.Match): one '?' is one UTF-8
  // character, classes take code points.
  EXPECT_TRUE(glob_match("caf?", "caf\xc3\xa9"));
  EXPECT_FALSE(glob_match("caf??", "caf\xc3\xa9"));
  EXPECT_TRUE(glob_match("[\xc3\xa0-\xc3\xbf]", "\xc3\xa9"));
}

TEST(DockerIgnore, ExceptionsUnderExcludedDirsAndBadPatternsAsBuildKit) {
  DockerIgnore ignore("docs\n!docs/README.md\nnode_modules\n");
  EXPECT_TRUE(ignore.excluded("docs"));
  EXPECT_TRUE(ignore.excluded("docs/other.md"));
  EXPECT_FALSE(ignore.excluded("docs/README.md"));
  // The walk must look inside docs (something there comes back), not
  // inside node_modules.
  EXPECT_TRUE(ignore.may_include_under("docs"));
  EXPECT_FALSE(ignore.may_include_under("node_modules"));
  EXPECT_TRUE(DockerIgnore("a\n!**/keep\n").may_include_under("a/b/c"));
  // What BuildKit refuses is refused, not silently read.
  EXPECT_THROW(DockerIgnore("!\n"), Error);
  EXPECT_THROW(DockerIgnore("[\n"), Error);
  EXPECT_THROW(DockerIgnore("a[b\n"), Error);
  EXPECT_THROW(DockerIgnore("trailing\\\n"), Error);
  EXPECT_NO_THROW(DockerIgnore("[]a]\n[!a]\n"));
}

}  // namespace
}  // namespace coracle::builder
