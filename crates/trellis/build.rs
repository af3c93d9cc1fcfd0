//! Build script of the `trellis` binary: on Linux release builds, link a position-dependent
//! executable (`-no-pie`).
//!
//! Why: the binary links kube, rustls, tokio and the dev cluster, so a PIE carries ~67,000
//! relative relocations over 1.6 MB of `.data.rel.ro` that the loader must apply (and so
//! copy-on-write fault in) at every start, before `main`. `trellis template` is meant to be
//! run once per chart from scripts, and that start-up work was 2.1 of its 2.8 ms for
//! `trellis --version` (554 page faults; 138 without PIE). The cost: the executable image
//! itself is not address-randomised (shared libraries, heap and stacks still are).
//! Debug and test builds stay PIE.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    if linux && release {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
