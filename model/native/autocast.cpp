// libtorch's autocast state per device type, which tch cannot set: tch's `autocast` only flips
// CUDA autocast on and off (with libtorch's default CUDA dtype, float16) and does nothing on
// the CPU. Compiled by model/build.rs against the libtorch headers torch-sys uses; wrapped by
// `model::runtime::Autocast` (a guard that restores the previous state).
//
//   Rust Autocast::new(device, kind) ─► mapflow_autocast_enter ─► set dtype, enable, nesting + 1
//   drop(Autocast)                   ─► mapflow_autocast_exit  ─► nesting − 1 (0: clear the
//                                                                  cast cache), restore state
//
// The state is thread-local in libtorch: a guard affects the thread that made it.
#include <ATen/autocast_mode.h>

#include <cstddef>
#include <cstring>
#include <exception>
#include <stdexcept>

namespace {

// Device codes shared with model/src/runtime.rs (named constants, not c10's enum values).
c10::DeviceType device_type(int code) {
  switch (code) {
    case 0:
      return c10::DeviceType::CPU;
    case 1:
      return c10::DeviceType::CUDA;
    default:
      throw std::invalid_argument("unknown device code");
  }
}

// Dtype codes shared with model/src/runtime.rs.
c10::ScalarType scalar_type(int code) {
  switch (code) {
    case 0:
      return c10::ScalarType::Float;
    case 1:
      return c10::ScalarType::Half;
    case 2:
      return c10::ScalarType::BFloat16;
    default:
      throw std::invalid_argument("unknown dtype code");
  }
}

int scalar_code(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Float:
      return 0;
    case c10::ScalarType::Half:
      return 1;
    case c10::ScalarType::BFloat16:
      return 2;
    default:
      return -1;
  }
}

// Runs `body`; a C++ exception becomes -1 and its message in `error` (never across the C ABI).
template <typename Body>
int guarded(Body body, char* error, std::size_t error_length) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    if (error != nullptr && error_length > 0) {
      std::strncpy(error, e.what(), error_length - 1);
      error[error_length - 1] = '\0';
    }
    return -1;
  } catch (...) {
    if (error != nullptr && error_length > 0) {
      std::strncpy(error, "unknown C++ exception", error_length - 1);
      error[error_length - 1] = '\0';
    }
    return -1;
  }
}

}  // namespace

extern "C" {

// The autocast state of `device`: whether it is on and its dtype code (-1: another dtype).
int mapflow_autocast_state(int device, bool* enabled, int* dtype, char* error, std::size_t error_length) {
  return guarded(
      [&] {
        auto type = device_type(device);
        *enabled = at::autocast::is_autocast_enabled(type);
        *dtype = scalar_code(at::autocast::get_autocast_dtype(type));
      },
      error, error_length);
}

// Sets autocast on `device` to `enabled` with `dtype` and enters an autocast region.
int mapflow_autocast_enter(int device, bool enabled, int dtype, char* error, std::size_t error_length) {
  return guarded(
      [&] {
        auto type = device_type(device);
        at::autocast::set_autocast_dtype(type, scalar_type(dtype));
        at::autocast::set_autocast_enabled(type, enabled);
        at::autocast::increment_nesting();
      },
      error, error_length);
}

// Leaves an autocast region (the outermost one clears the cache of casted weights) and
// restores `device`'s state to `enabled` with `dtype` (a code of mapflow_autocast_state; -1
// leaves the dtype as it is).
int mapflow_autocast_exit(int device, bool enabled, int dtype, char* error, std::size_t error_length) {
  return guarded(
      [&] {
        auto type = device_type(device);
        if (at::autocast::decrement_nesting() == 0) {
          at::autocast::clear_cache();
        }
        if (dtype >= 0) {
          at::autocast::set_autocast_dtype(type, scalar_type(dtype));
        }
        at::autocast::set_autocast_enabled(type, enabled);
      },
      error, error_length);
}

}  // extern "C"
