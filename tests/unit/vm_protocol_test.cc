// The agent's protocol: frames survive any split of the byte stream, a
// hostile length or type is refused, the guest spec round-trips.
#include <gtest/gtest.h>

#include "common/error.h"
#include "vm/protocol.h"

namespace coracle::vm {
namespace {

TEST(VmProtocol, FramesComeBackWholeFromAnySplitOfTheStream) {
  std::string stream = encode_frame(FrameType::Ready, "1") + encode_frame(FrameType::Stdout, "") +
                       encode_frame(FrameType::Stderr, std::string(70000, 'e')) +
                       encode_frame(FrameType::Exit, R"({"exit_code":3})");
  for (size_t piece : {1u, 3u, 5u, 4096u, 1u << 20}) {
    FrameReader reader;
    std::vector<Frame> frames;
    for (size_t at = 0; at < stream.size(); at += piece) {
      reader.feed(stream.data() + at, std::min(piece, stream.size() - at));
      while (auto f = reader.next()) frames.push_back(*f);
    }
    ASSERT_EQ(frames.size(), 4u) << piece;
    EXPECT_EQ(frames[0].type, FrameType::Ready);
    EXPECT_EQ(frames[0].payload, "1");
    EXPECT_EQ(frames[1].payload, "");
    EXPECT_EQ(frames[2].payload.size(), 70000u);
    EXPECT_EQ(frames[3].type, FrameType::Exit);
  }
}

TEST(VmProtocol, AHostileLengthOrTypeIsRefused) {
  FrameReader huge;
  std::string header = "\xff\xff\xff\x7f\x02";  // 2 GiB
  huge.feed(header.data(), header.size());
  EXPECT_THROW(huge.next(), Error);
  FrameReader empty;
  std::string zero("\0\0\0\0\x02", 5);
  empty.feed(zero.data(), zero.size());
  EXPECT_THROW(empty.next(), Error);
  FrameReader unknown;
  std::string bad = encode_frame(FrameType::Ready, "x");
  bad[4] = 99;
  unknown.feed(bad.data(), bad.size());
  EXPECT_THROW(unknown.next(), Error);
  EXPECT_THROW(encode_frame(FrameType::Stdout, std::string(kMaxFramePayload + 1, 'x')), Error);
}

TEST(VmProtocol, TheGuestSpecRoundTripsAndMalformedOnesAreRefused) {
  GuestSpec s;
  s.argv = {"/bin/sh", "-c", "echo \"hi\""};
  s.env = {"PATH=/bin", "A=b=c"};
  s.uid = 1000;
  s.gid = 100;
  s.workdir = "/srv";
  s.hostname = "box";
  s.layers = 2;
  s.read_only = true;
  s.shares = {{"out", "/out", false}, {"in", "/in", true}};
  s.files = {{"/etc/hosts", "127.0.0.1 localhost\n"}};
  s.cgroup2 = true;
  s.agent_at = "/usr/local/bin/coracle";
  GuestSpec back = guest_spec_from_json(to_json(s));
  EXPECT_EQ(back.argv, s.argv);
  EXPECT_EQ(back.env, s.env);
  EXPECT_EQ(back.uid, 1000u);
  EXPECT_EQ(back.gid, 100u);
  EXPECT_EQ(back.workdir, "/srv");
  EXPECT_EQ(back.hostname, "box");
  EXPECT_EQ(back.layers, 2u);
  EXPECT_TRUE(back.read_only);
  ASSERT_EQ(back.shares.size(), 2u);
  EXPECT_EQ(back.shares[1].tag, "in");
  EXPECT_TRUE(back.shares[1].read_only);
  EXPECT_EQ(back.files, s.files);
  EXPECT_TRUE(back.cgroup2);
  EXPECT_EQ(back.agent_at, "/usr/local/bin/coracle");
  EXPECT_THROW(guest_spec_from_json("{"), Error);
  EXPECT_THROW(guest_spec_from_json(R"({"argv": []})"), Error);
  std::string relative = to_json(s);
  relative.replace(relative.find("\"/srv\""), 6, "\"srv\"");
  EXPECT_THROW(guest_spec_from_json(relative), Error);
}

}  // namespace
}  // namespace coracle::vm
