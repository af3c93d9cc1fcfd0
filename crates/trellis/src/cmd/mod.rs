//! One module per subcommand.

pub mod demo;
pub mod deploy;
pub mod dev_cluster;
pub mod diff;
pub mod repo_chart;
pub mod template;
