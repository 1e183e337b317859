#include "common/parse.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace coracle {
namespace {

TEST(Parse, Durations) {
  using std::chrono::milliseconds;
  EXPECT_EQ(parse_duration("10"), milliseconds(10000));
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("200ms"), milliseconds(200));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_THROW(parse_duration("10x"), Error);
  EXPECT_THROW(parse_duration(""), Error);
  EXPECT_THROW(parse_duration("s"), Error);
}

TEST(Parse, Bytes) {
  EXPECT_EQ(parse_bytes("1024"), 1024u);
  EXPECT_EQ(parse_bytes("64k"), 64u * 1024);
  EXPECT_EQ(parse_bytes("512m"), 512u << 20);
  EXPECT_EQ(parse_bytes("512MiB"), 512u << 20);
  EXPECT_EQ(parse_bytes("1g"), 1u << 30);
  EXPECT_EQ(parse_bytes("1.5G"), 3u << 29);
  EXPECT_THROW(parse_bytes("12q"), Error);
  EXPECT_THROW(parse_bytes("-1"), Error);
}

TEST(Parse, UintAndSplit) {
  EXPECT_EQ(parse_uint("42", "x"), 42u);
  EXPECT_THROW(parse_uint("4 2", "x"), Error);
  EXPECT_THROW(parse_uint("", "x"), Error);
  EXPECT_EQ(split("a:b::c", ':'), (std::vector<std::string>{"a", "b", "", "c"}));
}

}  // namespace
}  // namespace coracle
