// Shared by the build scripts of the crates that link libtorch (`include!`d, not a module).
//
// torch-sys links libtorch but gives the final binary no rpath, so binaries would need
// LD_LIBRARY_PATH. A direct torch-sys dependency exposes its `links = "tch"` metadata as
// DEP_TCH_LIBTORCH_LIB; we bake that directory into every binary, test and bench we link.
// With the `cuda` feature (full CUDA wheel set) libtorch.so is linked on purpose so that
// libtorch_cuda.so is loaded and CUDA devices are found.
#[allow(dead_code)] // each build script uses part of this file
fn link_libtorch_rpath() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.to_string_lossy());
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
}
