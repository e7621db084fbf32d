// The model crate's build: the libtorch rpath (shared with pipeline), and the C++ autocast shim
// (native/autocast.cpp) compiled against the libtorch headers torch-sys compiled against.
include!("../build-support/libtorch_rpath.rs");

use std::path::PathBuf;

fn main() {
    link_libtorch_rpath();
    compile_autocast_shim();
}

/// libtorch's include directories, found as torch-sys finds them: `LIBTORCH_INCLUDE` when set,
/// else next to the library directory torch-sys linked (`DEP_TCH_LIBTORCH_LIB` = `<libtorch>/lib`).
fn libtorch_includes() -> Vec<PathBuf> {
    println!("cargo:rerun-if-env-changed=LIBTORCH_INCLUDE");
    let base = match std::env::var_os("LIBTORCH_INCLUDE") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let lib = std::env::var_os("DEP_TCH_LIBTORCH_LIB").expect("torch-sys reports its libtorch directory");
            PathBuf::from(lib).parent().expect("<libtorch>/lib has a parent").to_owned()
        }
    };
    vec![base.join("include"), base.join("include/torch/csrc/api/include")]
}

/// Builds `native/autocast.cpp` into a static library linked into this crate (its libtorch
/// symbols resolve against the libraries torch-sys links). Flags as torch-sys's build.rs.
fn compile_autocast_shim() {
    println!("cargo:rerun-if-changed=native/autocast.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .includes(libtorch_includes())
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .file("native/autocast.cpp")
        .compile("mapflow_autocast");
}
