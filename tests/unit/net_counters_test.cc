// The SNMP counters a failed command's hint rests on, as this kernel
// writes them (/proc/net/snmp: a line of names, a line of values;
// /proc/net/snmp6: a name, a tab, a value).
#include "sandbox/net_counters.h"

#include <gtest/gtest.h>

namespace coracle::sandbox {
namespace {

const char* const kSnmp =
    "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams "
    "InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout\n"
    "Ip: 1 64 235068 0 0 0 0 0 235068 215282 0 7 0\n"
    "Icmp: InMsgs InErrors\n"
    "Icmp: 3 0\n";
const char* const kSnmp6 =
    "Ip6InReceives                   \t12\n"
    "Ip6OutNoRoutes                  \t2\n"
    "Ip6ReasmTimeout                 \t0\n";

TEST(NetCounters, OutNoRoutesOfBothFamilies) {
  EXPECT_EQ(parse_out_no_routes(kSnmp, kSnmp6), 9u);
  EXPECT_EQ(parse_out_no_routes(kSnmp, ""), 7u);
  EXPECT_EQ(parse_out_no_routes("", kSnmp6), 2u);
  // Missing, cut short or malformed: nothing counted, nothing read past.
  EXPECT_EQ(parse_out_no_routes("Ip: Forwarding OutNoRoutes\n", ""), 0u);
  EXPECT_EQ(parse_out_no_routes("Ip: Forwarding OutNoRoutes\nIp: 1\n", ""), 0u);
  EXPECT_EQ(parse_out_no_routes("Ip: OutNoRoutes\nIp: x9\n", "Ip6OutNoRoutes"), 0u);
}

}  // namespace
}  // namespace coracle::sandbox
