//! The libtorch runtime this binary linked: version, devices, and the device to train on.

use tch::Device;

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
    fn cuda_tensor_round_trip_when_a_gpu_is_present() {
        if !tch::Cuda::is_available() {
            eprintln!("skipped: no CUDA device");
            return;
        }
        let x = tch::Tensor::from_slice(&[1.0f32, 2.0]).to_device(Device::Cuda(0));
        assert_eq!(f64::try_from((&x * 2).sum(tch::Kind::Float).to_device(Device::Cpu)).unwrap(), 6.0);
    }
}
