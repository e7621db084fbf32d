//! The libtorch runtime this binary linked: version, devices, the device to train on, and
//! mixed precision ([`Autocast`]: bf16 autocast, which tch cannot set).
//!
//! ```text
//! Autocast::bf16(device) ─► native/autocast.cpp ─► at::autocast::set_autocast_dtype/enabled
//!   forward pass: matmul, linear, conv in bf16; reductions and losses stay float32
//! drop ─► previous state restored (the outermost region also clears the cast cache)
//! ```

use std::ffi::{CStr, c_char};
use std::marker::PhantomData;

use tch::{Device, Kind};

/// What libtorch reports about this machine.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RuntimeInfo {
    /// Whether a CUDA device is usable (needs the `cuda` feature and the full wheel set).
    pub cuda_available: bool,
    /// Number of CUDA devices.
    pub cuda_devices: i64,
    /// Whether cuDNN is usable.
    pub cudnn_available: bool,
    /// Threads libtorch uses for CPU ops.
    pub cpu_threads: i32,
    /// The device [`best_device`] picks.
    pub device: String,
}

/// The first CUDA device when one is usable, else the CPU.
pub fn best_device() -> Device {
    Device::cuda_if_available()
}

/// A device this process cannot compute on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// CUDA was asked for, but this libtorch has no usable CUDA device.
    #[error(
        "device {device:?}: CUDA is not available to this build (libtorch reports no usable CUDA device); \
         use --device cpu or auto, or a build and libtorch with CUDA"
    )]
    NoCuda {
        /// The device asked for.
        device: Device,
    },
    /// A CUDA device index past the devices there are.
    #[error("device {device:?}: only {count} CUDA device(s) (cuda:0..cuda:{})", .count - 1)]
    NoSuchCuda {
        /// The device asked for.
        device: Device,
        /// CUDA devices present.
        count: i64,
    },
    /// Apple's Metal was asked for, but this libtorch has no MPS backend.
    #[error("device {device:?}: MPS is not available to this build")]
    NoMps {
        /// The device asked for.
        device: Device,
    },
}

/// `device` if this process can compute on it; an error saying why not otherwise (where tch
/// would panic at the first tensor put there). Check it where a device is chosen.
pub fn usable_device(device: Device) -> Result<Device, DeviceError> {
    match device {
        Device::Cuda(index) => {
            if !tch::Cuda::is_available() {
                return Err(DeviceError::NoCuda { device });
            }
            let count = tch::Cuda::device_count();
            if !i64::try_from(index).is_ok_and(|i| i < count) {
                return Err(DeviceError::NoSuchCuda { device, count });
            }
            Ok(device)
        }
        Device::Mps if !tch::utils::has_mps() => Err(DeviceError::NoMps { device }),
        other => Ok(other),
    }
}

/// Queries libtorch (runs a tiny computation to prove the library loads and works).
pub fn runtime_info() -> RuntimeInfo {
    let device = best_device();
    let probe = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]).to_device(device);
    let sum = f64::try_from(probe.sum(tch::Kind::Float)).unwrap_or(f64::NAN);
    debug_assert_eq!(sum, 6.0);
    RuntimeInfo {
        cuda_available: tch::Cuda::is_available(),
        cuda_devices: tch::Cuda::device_count(),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        cpu_threads: tch::get_num_threads(),
        device: format!("{device:?}"),
    }
}

unsafe extern "C" {
    fn mapflow_autocast_state(
        device: i32,
        enabled: *mut bool,
        dtype: *mut i32,
        error: *mut c_char,
        error_length: usize,
    ) -> i32;
    fn mapflow_autocast_enter(device: i32, enabled: bool, dtype: i32, error: *mut c_char, error_length: usize) -> i32;
    fn mapflow_autocast_exit(device: i32, enabled: bool, dtype: i32, error: *mut c_char, error_length: usize) -> i32;
}

/// Why autocast could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AutocastError {
    /// Autocast is only wired for the CPU and CUDA.
    #[error("autocast is not available on {0:?} (cpu or cuda only)")]
    Device(Device),
    /// Autocast runs in float16 or bfloat16.
    #[error("autocast runs in float16 or bfloat16, not {0:?}")]
    Kind(Kind),
    /// libtorch refused.
    #[error("libtorch autocast: {0}")]
    Torch(String),
}

/// The shim's device code (see native/autocast.cpp).
fn device_code(device: Device) -> Result<i32, AutocastError> {
    match device {
        Device::Cpu => Ok(0),
        Device::Cuda(_) => Ok(1),
        other => Err(AutocastError::Device(other)),
    }
}

/// The shim's dtype codes (see native/autocast.cpp).
const DTYPES: [(i32, Kind); 3] = [(0, Kind::Float), (1, Kind::Half), (2, Kind::BFloat16)];

/// Calls a shim function with an error buffer; its message on failure.
fn shim(call: impl FnOnce(*mut c_char, usize) -> i32) -> Result<(), AutocastError> {
    let mut buffer = [0 as c_char; 256];
    if call(buffer.as_mut_ptr(), buffer.len()) == 0 {
        return Ok(());
    }
    // SAFETY: the shim writes a NUL-terminated message into the buffer (zeroed otherwise).
    let message = unsafe { CStr::from_ptr(buffer.as_ptr()) };
    Err(AutocastError::Torch(message.to_string_lossy().into_owned()))
}

/// Whether autocast is on for `device`'s type on this thread, and its dtype (`None`: one the
/// shim does not name).
pub fn autocast_state(device: Device) -> Result<(bool, Option<Kind>), AutocastError> {
    let code = device_code(device)?;
    let (mut enabled, mut dtype) = (false, -1);
    // SAFETY: the out-pointers are valid for the call; the shim catches every C++ exception.
    shim(|error, length| unsafe { mapflow_autocast_state(code, &mut enabled, &mut dtype, error, length) })?;
    Ok((enabled, DTYPES.iter().find(|(c, _)| *c == dtype).map(|(_, k)| *k)))
}

/// Mixed precision on one device type while the guard lives: libtorch's autocast runs the
/// eligible ops (matmul, linear, convolutions) in `kind` and keeps precision-sensitive ones
/// (softmax, norms, losses) in float32. Dropping it restores the previous state. libtorch keeps
/// this state per thread, so the guard is neither `Send` nor `Sync`.
///
/// ```
/// use model::runtime::Autocast;
/// use tch::{Device, Kind, Tensor};
/// let (a, b) = (Tensor::ones([2, 3], (Kind::Float, Device::Cpu)), Tensor::ones([3, 4], (Kind::Float, Device::Cpu)));
/// {
///     let _bf16 = Autocast::bf16(Device::Cpu).unwrap();
///     assert_eq!(a.matmul(&b).kind(), Kind::BFloat16);
/// }
/// assert_eq!(a.matmul(&b).kind(), Kind::Float);
/// ```
#[derive(Debug)]
pub struct Autocast {
    device: i32,
    previous_enabled: bool,
    previous_dtype: i32,
    _this_thread: PhantomData<*const ()>,
}

impl Autocast {
    /// Turns autocast on for `device`'s type with `kind` (`Half` or `BFloat16`).
    pub fn new(device: Device, kind: Kind) -> Result<Self, AutocastError> {
        let code = device_code(device)?;
        let dtype = match kind {
            Kind::Half => 1,
            Kind::BFloat16 => 2,
            other => return Err(AutocastError::Kind(other)),
        };
        let (previous_enabled, previous_kind) = autocast_state(device)?;
        let previous_dtype = previous_kind.and_then(|k| DTYPES.iter().find(|(_, d)| *d == k)).map_or(-1, |(c, _)| *c);
        // SAFETY: plain values; the shim catches every C++ exception.
        shim(|error, length| unsafe { mapflow_autocast_enter(code, true, dtype, error, length) })?;
        Ok(Self { device: code, previous_enabled, previous_dtype, _this_thread: PhantomData })
    }

    /// bfloat16 autocast on `device`: float32's range (no loss scaling needed, unlike float16)
    /// at half the memory traffic.
    pub fn bf16(device: Device) -> Result<Self, AutocastError> {
        Self::new(device, Kind::BFloat16)
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        let (device, enabled, dtype) = (self.device, self.previous_enabled, self.previous_dtype);
        // SAFETY: plain values; the shim catches every C++ exception.
        if let Err(e) = shim(|error, length| unsafe { mapflow_autocast_exit(device, enabled, dtype, error, length) }) {
            // Restoring a state libtorch reported a moment ago cannot fail in practice.
            eprintln!("restoring the autocast state: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_loads_and_computes() {
        let info = runtime_info();
        assert!(info.cpu_threads >= 1);
        assert_eq!(info.cuda_available, info.cuda_devices > 0);
        let x = tch::Tensor::from_slice(&[3.0f32, 4.0]);
        assert_eq!(f64::try_from(x.norm()).unwrap(), 5.0);
    }

    #[test]
    fn an_unusable_cuda_device_is_an_error_not_a_panic() {
        assert_eq!(usable_device(Device::Cpu), Ok(Device::Cpu));
        assert_eq!(usable_device(best_device()), Ok(best_device()));
        // One past the last device: there is never such a device, GPU or not.
        let past = Device::Cuda(tch::Cuda::device_count() as usize);
        let error = usable_device(past).unwrap_err();
        assert!(error.to_string().contains("Cuda") && error.to_string().contains("CUDA"), "{error}");
        if !tch::Cuda::is_available() {
            assert_eq!(usable_device(Device::Cuda(0)), Err(DeviceError::NoCuda { device: Device::Cuda(0) }));
            assert!(usable_device(Device::Cuda(0)).unwrap_err().to_string().contains("not available"));
        } else {
            assert_eq!(usable_device(Device::Cuda(0)), Ok(Device::Cuda(0)));
        }
    }

    /// Skipped without a GPU, unless `MAPFLOW_REQUIRE_CUDA` is set (on a GPU machine, where a
    /// build that cannot see the GPU must fail rather than skip).
    #[test]
    fn cuda_tensor_round_trip_when_a_gpu_is_present() {
        if !tch::Cuda::is_available() {
            assert!(std::env::var_os("MAPFLOW_REQUIRE_CUDA").is_none(), "MAPFLOW_REQUIRE_CUDA is set: no CUDA device");
            eprintln!("skipped: no CUDA device (set MAPFLOW_REQUIRE_CUDA to make this a failure)");
            return;
        }
        let x = tch::Tensor::from_slice(&[1.0f32, 2.0]).to_device(Device::Cuda(0));
        assert_eq!(f64::try_from((&x * 2).sum(tch::Kind::Float).to_device(Device::Cpu)).unwrap(), 6.0);
    }

    #[test]
    fn bf16_autocast_on_the_cpu_and_restored_on_drop() {
        let x = tch::Tensor::randn([4, 8], (Kind::Float, Device::Cpu));
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let linear = tch::nn::linear(vs.root(), 8, 3, Default::default());
        let before = autocast_state(Device::Cpu).unwrap();
        assert_eq!(x.apply(&linear).kind(), Kind::Float);
        {
            let _bf16 = Autocast::bf16(Device::Cpu).unwrap();
            assert_eq!(autocast_state(Device::Cpu).unwrap(), (true, Some(Kind::BFloat16)));
            assert_eq!(x.apply(&linear).kind(), Kind::BFloat16, "Linear under bf16 autocast");
            assert_eq!(x.matmul(&x.tr()).kind(), Kind::BFloat16, "matmul under bf16 autocast");
            {
                let _half = Autocast::new(Device::Cpu, Kind::Half).unwrap();
                assert_eq!(x.matmul(&x.tr()).kind(), Kind::Half, "nested float16 region");
            }
            assert_eq!(x.matmul(&x.tr()).kind(), Kind::BFloat16, "outer region restored");
        }
        assert_eq!(autocast_state(Device::Cpu).unwrap(), before);
        assert_eq!(x.apply(&linear).kind(), Kind::Float, "Float again after the guard dropped");
        assert_eq!(Autocast::new(Device::Cpu, Kind::Double).unwrap_err(), AutocastError::Kind(Kind::Double));
        assert!(matches!(Autocast::bf16(Device::Mps), Err(AutocastError::Device(Device::Mps))));
    }
}
