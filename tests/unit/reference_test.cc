#include "image/reference.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "image/layer_cache.h"
#include "image/oci.h"
#include "image/registry.h"

namespace coracle::image {
namespace {

TEST(Reference, NormalisesLikeDocker) {
  EXPECT_EQ(parse_reference("busybox").str(), "docker.io/library/busybox:latest");
  EXPECT_EQ(parse_reference("me/app:1.2").str(), "docker.io/me/app:1.2");
  EXPECT_EQ(parse_reference("index.docker.io/me/app").str(), "docker.io/me/app:latest");
  EXPECT_EQ(parse_reference("localhost:5000/x").str(), "localhost:5000/x:latest");
  EXPECT_EQ(parse_reference("127.0.0.1:5000/a/b:t").str(), "127.0.0.1:5000/a/b:t");
  EXPECT_EQ(parse_reference("ghcr.io/o/r:v1").api_host(), "ghcr.io");
  EXPECT_EQ(parse_reference("busybox").api_host(), "registry-1.docker.io");
  std::string d = "sha256:" + std::string(64, 'a');
  auto r = parse_reference("busybox@" + d);
  EXPECT_EQ(r.tag, "");
  EXPECT_EQ(r.str(), "docker.io/library/busybox@" + d);
  EXPECT_EQ(parse_reference("busybox:1@" + d).str(), "docker.io/library/busybox:1@" + d);
}

TEST(Reference, RefusesBadNames) {
  for (const char* bad :
       {"", "Busybox", "a//b", "a/", "x:", "x:-bad", "x@sha256:12", "-x", "a..b", "x@md5:00"})
    EXPECT_THROW(parse_reference(bad), Error) << bad;
  EXPECT_FALSE(looks_like_reference("/bin/sh"));
  EXPECT_TRUE(looks_like_reference("alpine:3.20"));
}

TEST(Platform, MatchesVariantsSensibly) {
  EXPECT_TRUE(platform_matches(parse_platform("linux/amd64"), {"linux", "amd64", ""}));
  EXPECT_FALSE(platform_matches(parse_platform("linux/amd64"), {"linux", "arm64", ""}));
  EXPECT_TRUE(platform_matches(parse_platform("linux/arm64/v8"), {"linux", "arm64", ""}));
  EXPECT_FALSE(platform_matches(parse_platform("linux/arm/v7"), {"linux", "arm", "v6"}));
  EXPECT_THROW(parse_platform("linux"), Error);
}

TEST(ChainId, FollowsTheOciDefinition) {
  std::string a = "sha256:" + std::string(64, 'a'), b = "sha256:" + std::string(64, 'b');
  auto ids = chain_ids({a, b});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], a);
  // sha256("sha256:aaa... sha256:bbb..."), computed with Python's hashlib.
  EXPECT_EQ(ids[1], "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c");
}

TEST(Manifest, RejectsWhatItCannotUse) {
  EXPECT_THROW(parse_manifest("[]", "m"), Error);
  EXPECT_THROW(parse_manifest(R"({"config":{}})", "m"), Error);
  std::string d = "sha256:" + std::string(64, 'c');
  std::string cfg = R"({"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" + d +
                    R"(","size":2})";
  EXPECT_THROW(
      parse_manifest(R"({"config":)" + cfg + R"(,"layers":[{"mediaType":"text/plain","digest":")" +
                         d + R"(","size":1}]})",
                     "m"),
      Error);
  auto m = parse_manifest(R"({"config":)" + cfg + R"(,"layers":[]})", "m");
  EXPECT_EQ(m.config.digest, d);
  EXPECT_THROW(sniff_media_type(R"({"fsLayers":[]})", "m"), Error);
}

}  // namespace
}  // namespace coracle::image

namespace coracle::image {
namespace {

TEST(PlainHttp, OnlyLoopbackOrInsecure) {
  EXPECT_TRUE(plain_http_allowed("127.0.0.1:5000", false));
  EXPECT_TRUE(plain_http_allowed("127.3.2.1", false));
  EXPECT_TRUE(plain_http_allowed("localhost:5000", false));
  EXPECT_TRUE(plain_http_allowed("localhost", false));
  EXPECT_TRUE(plain_http_allowed("[::1]:5000", false));
  EXPECT_FALSE(plain_http_allowed("docker.io", false));
  EXPECT_FALSE(plain_http_allowed("10.0.0.1:5000", false));
  EXPECT_FALSE(plain_http_allowed("127.0.0.1.example.com", false));
  EXPECT_FALSE(plain_http_allowed("localhost.example.com:5000", false));
  EXPECT_FALSE(plain_http_allowed("[::2]:5000", false));
  EXPECT_TRUE(plain_http_allowed("registry.internal:5000", true));
}

}  // namespace
}  // namespace coracle::image
