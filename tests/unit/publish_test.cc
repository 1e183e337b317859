// The -p forms docker and podman users type.
#include <gtest/gtest.h>

#include "common/error.h"
#include "portmon/publish.h"

namespace coracle::portmon {
namespace {

TEST(Publish, ParsesDockersForms) {
  Publish p = parse_publish("8080");
  EXPECT_EQ(p.port, 8080);
  EXPECT_EQ(p.host_port, 0);  // any free host port
  EXPECT_EQ(p.host_ip, "");
  EXPECT_EQ(p.proto, Proto::kTcp);

  p = parse_publish("8080:80");
  EXPECT_EQ(p.host_port, 8080);
  EXPECT_EQ(p.port, 80);

  p = parse_publish("127.0.0.1:8080:80/udp");
  EXPECT_EQ(p.host_ip, "127.0.0.1");
  EXPECT_EQ(p.host_port, 8080);
  EXPECT_EQ(p.port, 80);
  EXPECT_EQ(p.proto, Proto::kUdp);

  p = parse_publish("127.0.0.1::80");
  EXPECT_EQ(p.host_ip, "127.0.0.1");
  EXPECT_EQ(p.host_port, 0);

  p = parse_publish("[::1]:8443:443/tcp");
  EXPECT_EQ(p.host_ip, "::1");
  EXPECT_EQ(p.host_port, 8443);
  EXPECT_EQ(p.port, 443);
}

TEST(Publish, RefusesWhatIsNotAPortOrAddress) {
  for (const char* bad : {"", "0", "65536", "80:", ":80", "a:80", "1:2:3:4", "80/sctp",
                          "localhost:80:80", "[::1]80:80", "[::1]:80", "999.1.1.1:1:1"})
    EXPECT_THROW(parse_publish(bad), Error) << bad;
}

TEST(Publish, HostAndPortBracketsIpv6) {
  EXPECT_EQ(host_and_port("127.0.0.1", 80), "127.0.0.1:80");
  EXPECT_EQ(host_and_port("::1", 80), "[::1]:80");
}

}  // namespace
}  // namespace coracle::portmon
