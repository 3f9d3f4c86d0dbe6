#include <ferrometer.hpp>

#include <cstdio>

int main() {
  ferrometer::ManualReader reader;
  ferrometer::MeterProvider provider(reader);
  auto meter = provider.GetMeter("consumer", "1.0");
  auto c = meter.CreateUInt64Counter("consumer.requests");
  c.Add(3, {{"route", "/x"}});
  auto snap = reader.Collect();
  auto m = snap.Find("consumer.requests");
  if (!m) return 1;
  auto p = m->FindNumberPoint({{"route", "/x"}});
  if (!p || p->AsUInt64() != 3) return 2;
  std::printf("ok %s\n", fm_version());
  return 0;
}
