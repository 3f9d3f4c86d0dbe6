// Links ferrometer::ferrometer_static: the C++ API works without the .so.
#include <gtest/gtest.h>

#include "ferrometer.hpp"

TEST(StaticLink, RecordAndCollect) {
  ferrometer::ManualReader reader;
  ferrometer::MeterProvider provider(reader);
  auto c = provider.GetMeter("static").CreateUInt64Counter("static.count");
  c.Add(41, {{"k", "v"}});
  c.Add(1, {{"k", "v"}});
  auto s = reader.Collect();
  EXPECT_EQ(s.Find("static.count")->FindNumberPoint({{"k", "v"}})->AsUInt64(), 42u);
}

TEST(StaticLink, Version) { EXPECT_STREQ(fm_version(), FERROMETER_VERSION_STRING); }
