//! Shared by the CLI and UI tests: the in-memory `/api/v1` server and running the binary.
#![allow(dead_code)]

pub mod demo;
pub mod fake_api;

use std::path::Path;
use std::process::{Command, Output};

/// The tokens the tests use, as in a `--token-file`.
pub const ADMIN: &str = "admin-0123456789abcdef";
pub const READONLY: &str = "readonly-0123456789abcdef";
pub const PROJECT: &str = "project-feat-pay-0123456789";

pub fn tokens() -> Vec<(&'static str, &'static str)> {
    vec![
        (ADMIN, "admin"),
        (READONLY, "readonly"),
        (PROJECT, "project:feat-pay"),
    ]
}

/// `trellis ARGS` with its config under `home` and no TRELLIS_* from the environment.
pub fn trellis(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trellis"));
    c.args(args)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HOME", home)
        .env_remove("TRELLIS_SERVER")
        .env_remove("TRELLIS_TOKEN");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("running trellis")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
