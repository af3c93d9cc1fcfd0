//! `trellis demo` (the README's run command) runs the product loop on the embedded local API
//! server: a pushed branch becomes an environment whose services come up in dependency order, a
//! new commit re-syncs only its service without re-running the seed hook, and deleting the branch
//! removes the environment.

use std::process::Command;

#[test]
fn demo_runs_the_branch_environment_loop() {
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
    assert!(
        stdout.contains("environment feature-login Ready 3/3"),
        "{stdout}"
    );
    // api deploys the branch, the others the default branch.
    let line = |svc: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(svc) && l.contains('('))
            .unwrap_or_else(|| panic!("no revision line for {svc}:\n{stdout}"))
            .to_string()
    };
    assert!(line("api").contains("(branch feature-login)"), "{stdout}");
    assert!(line("postgres").contains("(main)"), "{stdout}");
    assert!(line("web").contains("(main)"), "{stdout}");
    // Dependency order: api waits for postgres, web for api.
    assert!(
        stdout.contains("api       waiting for postgres"),
        "{stdout}"
    );
    assert!(stdout.contains("web       waiting for api"), "{stdout}");
    assert!(stdout.contains("api re-synced to"), "{stdout}");
    assert!(
        stdout.contains("the postgres seed Job did not run again"),
        "{stdout}"
    );
    assert!(
        stdout.contains("environment and namespace feature-login removed"),
        "{stdout}"
    );
}
