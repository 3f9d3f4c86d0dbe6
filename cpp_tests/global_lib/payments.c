/* The C half of the instrumented library: the global provider through the
 * C API, its instrument created on first use, before any provider is set. */
#include <stddef.h>
#include <stdint.h>

#include "ferrometer.h"

static fm_global_counter_u64* payments;

void payments_record(uint64_t cents) {
  if (payments == NULL) {
    fm_global_meter* meter = NULL;
    if (fm_global_get_meter("payments", 8, NULL, 0, NULL, 0, &meter) != FM_STATUS_OK) return;
    fm_global_meter_create_counter_u64(meter, "payments.cents", 14, NULL, &payments);
    fm_global_meter_release(meter);
  }
  fm_attribute currency;
  currency.key = "currency";
  currency.key_len = 8;
  currency.type_ = FM_VALUE_STRING;
  currency.value.str.ptr = "EUR";
  currency.value.str.len = 3;
  fm_global_counter_u64_add(payments, cents, &currency, 1);
}
