#include "common/userns.h"

#include <gtest/gtest.h>

namespace coracle {
namespace {

TEST(IdMap, ParsesSubordinateRangesByNameOrUid) {
  std::string text =
      "alice:100000:65536\nbob:200000:1000\n1001:300000:10\n#x:1:1\nbroken\nbob:nope:1\n";
  auto bob = parse_subid(text, "bob", 999);
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(bob[0].inside, 1u);
  EXPECT_EQ(bob[0].outside, 200000u);
  EXPECT_EQ(bob[0].count, 1000u);
  auto by_uid = parse_subid(text, "carol", 1001);
  ASSERT_EQ(by_uid.size(), 1u);
  EXPECT_EQ(by_uid[0].outside, 300000u);
  EXPECT_TRUE(parse_subid(text, "dave", 5).empty());
}

TEST(IdMap, SeveralRangesFollowEachOther) {
  auto r = parse_subid("u:1000:10\nu:5000:20\n", "u", 7);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].inside, 11u);
  EXPECT_TRUE(maps_id(r, 30));
  EXPECT_FALSE(maps_id(r, 31));
  EXPECT_FALSE(maps_id(r, 0));
}

TEST(IdMap, RootNeverMapsToHostRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "the rootful plan is made only as root";
  auto plan = plan_id_mapping();
  ASSERT_TRUE(plan.rootful);
  for (const auto& r : plan.uids) EXPECT_NE(r.outside, 0u);
  for (const auto& r : plan.gids) EXPECT_NE(r.outside, 0u);
  EXPECT_TRUE(maps_id(plan.uids, 65534));
}

}  // namespace
}  // namespace coracle
