/* Compiled as strict C99 with -Wall -Wextra -Wpedantic -Werror. */
#include "ferrometer.h"

#if !defined(FERROMETER_VERSION_MAJOR) || !defined(FERROMETER_VERSION_MINOR) || !defined(FERROMETER_VERSION_PATCH)
#error "version macros missing"
#endif

int ferrometer_c99_check(void);
int ferrometer_c99_check(void) {
  fm_attribute a;
  fm_status s;
  a.key = "k";
  a.key_len = 1;
  a.type_ = FM_VALUE_I64;
  a.value.i64 = 42;
  s = fm_attribute_set_new(&a, 1, NULL);
  return (int)s + (int)a.value.i64;
}
