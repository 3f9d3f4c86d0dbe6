// fm_attribute builders (S: string, I: i64, D: f64, B: bool) for the
// GoogleTest suites and the benchmarks. No gtest dependency.
#pragma once

#include <cstdint>
#include <cstring>

#include "ferrometer.h"

namespace fmtest {

// An attribute with key `k` and value type `t`; the caller sets the value.
inline fm_attribute Keyed(const char* k, fm_value_type t) {
  fm_attribute a{};
  a.key = k;
  a.key_len = std::strlen(k);
  a.type_ = t;
  return a;
}
inline fm_attribute S(const char* k, const char* v) {
  fm_attribute a = Keyed(k, FM_VALUE_STRING);
  a.value.str = fm_str{v, std::strlen(v)};
  return a;
}
inline fm_attribute I(const char* k, int64_t v) {
  fm_attribute a = Keyed(k, FM_VALUE_I64);
  a.value.i64 = v;
  return a;
}
inline fm_attribute D(const char* k, double v) {
  fm_attribute a = Keyed(k, FM_VALUE_F64);
  a.value.f64 = v;
  return a;
}
inline fm_attribute B(const char* k, bool v) {
  fm_attribute a = Keyed(k, FM_VALUE_BOOL);
  a.value.boolean = v;
  return a;
}

// `a` with FM_VALUE_STATIC: its strings are literals, kept by pointer.
inline fm_attribute Static(fm_attribute a) {
  a.type_ |= FM_VALUE_STATIC;
  return a;
}

}  // namespace fmtest
