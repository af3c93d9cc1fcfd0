//! `trellis demo` (the README's run command) deploys the sample chart into the embedded local API
//! server and ends Healthy: the hook ran before the resources, and the live Deployment is ready.

use std::process::Command;

#[test]
fn demo_deploys_the_sample_service_healthy() {
    let out = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .arg("demo")
        .output()
        .expect("run trellis demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "trellis demo failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("health Healthy"), "{stdout}");
    let hook = stdout
        .find("batch/Job/demo/hello-seed: HookSucceeded")
        .expect("the seed hook ran");
    let deployment = stdout
        .find("apps/Deployment/demo/hello: Synced")
        .expect("the deployment was applied");
    assert!(
        hook < deployment,
        "the pre-install hook runs before the resources:\n{stdout}"
    );
    assert!(stdout.contains("Deployment/hello ready 2/2"), "{stdout}");
}
