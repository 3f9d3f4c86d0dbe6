/* A C program built only with `pkg-config --cflags --libs ferrometer`
 * (cpp_tests/consumer_pkgconfig_test.sh): records, collects and checks
 * the value it reads back. */
#include <ferrometer.h>

#include <stdio.h>
#include <string.h>

#define NAME "pkgconfig.requests"

int main(void) {
  struct fm_manual_reader* reader = NULL;
  struct fm_provider* provider = NULL;
  struct fm_meter* meter = NULL;
  struct fm_counter_u64* counter = NULL;
  struct fm_snapshot* snap = NULL;
  const struct fm_metric* metric;
  fm_attribute attr;
  uint64_t got = 0;
  int rc = 1;

  if (fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, &reader) != FM_STATUS_OK) goto out;
  if (fm_provider_new(reader, &provider) != FM_STATUS_OK) goto out;
  if (fm_provider_get_meter(provider, "pc", 2, NULL, 0, NULL, 0, &meter) != FM_STATUS_OK) goto out;
  if (fm_meter_create_counter_u64(meter, NAME, strlen(NAME), NULL, &counter) != FM_STATUS_OK) goto out;
  attr.key = "route";
  attr.key_len = 5;
  attr.type_ = FM_VALUE_STRING;
  attr.value.str.ptr = "/x";
  attr.value.str.len = 2;
  fm_counter_u64_add(counter, 3, &attr, 1);
  fm_counter_u64_add(counter, 4, &attr, 1);
  if (fm_manual_reader_collect(reader, &snap) != FM_STATUS_OK) goto out;
  metric = fm_snapshot_find_metric(snap, NAME, strlen(NAME));
  if (metric == NULL || fm_metric_point_count(metric) != 1) goto out;
  got = fm_number_point_as_u64(fm_metric_number_point(metric, 0));
  if (got != 7) goto out;
  printf("ok %s %llu\n", fm_version(), (unsigned long long)got);
  rc = 0;
out:
  if (rc != 0) printf("failed: got %llu: %s\n", (unsigned long long)got, fm_last_error_message());
  fm_snapshot_release(snap);
  fm_counter_u64_release(counter);
  fm_meter_release(meter);
  fm_provider_release(provider);
  fm_manual_reader_release(reader);
  return rc;
}
