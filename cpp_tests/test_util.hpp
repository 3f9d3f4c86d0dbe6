// Helpers shared by the GoogleTest suites.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include "attrs.hpp"
#include "ferrometer.h"

namespace fmtest {

inline std::string Str(fm_str s) { return s.len ? std::string(s.ptr, s.len) : std::string(); }

// A provider with one manual reader, an empty resource, and a meter;
// optionally built with a cardinality limit (0: the default) and a view.
struct Env {
  fm_manual_reader* reader = nullptr;
  fm_provider* provider = nullptr;
  fm_meter* meter = nullptr;

  explicit Env(fm_temporality_preference t = FM_TEMPORALITY_PREFERENCE_CUMULATIVE) : Env(t, 0, nullptr) {}
  Env(fm_temporality_preference t, size_t cardinality_limit, const fm_view* view) {
    fm_provider_builder* b = nullptr;
    EXPECT_EQ(fm_manual_reader_new(t, &reader), FM_STATUS_OK);
    EXPECT_EQ(fm_provider_builder_new(&b), FM_STATUS_OK);
    EXPECT_EQ(fm_provider_builder_add_reader(b, reader), FM_STATUS_OK);
    EXPECT_EQ(fm_provider_builder_use_empty_resource(b), FM_STATUS_OK);
    if (cardinality_limit != 0) {
      EXPECT_EQ(fm_provider_builder_set_cardinality_limit(b, cardinality_limit), FM_STATUS_OK);
    }
    if (view != nullptr) {
      EXPECT_EQ(fm_provider_builder_add_view(b, view), FM_STATUS_OK);
    }
    EXPECT_EQ(fm_provider_builder_build(b, &provider), FM_STATUS_OK);
    fm_provider_builder_release(b);
    EXPECT_EQ(fm_provider_get_meter(provider, "test", 4, "1.0", 3, nullptr, 0, &meter), FM_STATUS_OK);
  }
  ~Env() {
    fm_meter_release(meter);
    fm_provider_release(provider);
    fm_manual_reader_release(reader);
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  fm_snapshot* Collect() const {
    fm_snapshot* s = nullptr;
    EXPECT_EQ(fm_manual_reader_collect(reader, &s), FM_STATUS_OK) << fm_last_error_message();
    return s;
  }
  fm_rejected_counts Rejected() const {
    fm_rejected_counts c{};
    EXPECT_EQ(fm_provider_rejected(provider, &c), FM_STATUS_OK);
    return c;
  }
};

// A snapshot released at scope exit.
struct Snap {
  fm_snapshot* s;
  explicit Snap(fm_snapshot* s_) : s(s_) {}
  ~Snap() { fm_snapshot_release(s); }
  Snap(const Snap&) = delete;
  Snap& operator=(const Snap&) = delete;
  const fm_metric* Metric(const char* name) const { return fm_snapshot_find_metric(s, name, std::strlen(name)); }
};

// True when the set holds every given attribute (string/int values).
inline bool HasAttrs(const fm_attribute_set* set, std::initializer_list<fm_attribute> want) {
  for (const auto& w : want) {
    fm_attribute a{};
    if (!fm_attribute_set_find(set, w.key, w.key_len, &a)) return false;
    if (a.type_ != w.type_) return false;
    if (w.type_ == FM_VALUE_STRING && Str(a.value.str) != Str(w.value.str)) return false;
    if (w.type_ == FM_VALUE_I64 && a.value.i64 != w.value.i64) return false;
    if (w.type_ == FM_VALUE_BOOL && a.value.boolean != w.value.boolean) return false;
  }
  return true;
}

// The number point of `metric` whose attributes contain `want` (NULL if none).
inline const fm_number_point* FindPoint(const fm_metric* m, std::initializer_list<fm_attribute> want = {}) {
  for (size_t i = 0; i < fm_metric_point_count(m); ++i) {
    const fm_number_point* p = fm_metric_number_point(m, i);
    if (p && HasAttrs(fm_number_point_attributes(p), want)) return p;
  }
  return nullptr;
}

inline const fm_histogram_point* FindHist(const fm_metric* m, std::initializer_list<fm_attribute> want = {}) {
  for (size_t i = 0; i < fm_metric_point_count(m); ++i) {
    const fm_histogram_point* p = fm_metric_histogram_point(m, i);
    if (p && HasAttrs(fm_histogram_point_attributes(p), want)) return p;
  }
  return nullptr;
}

}  // namespace fmtest
