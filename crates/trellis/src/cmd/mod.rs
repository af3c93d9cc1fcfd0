//! One module per subcommand.

pub mod dev_cluster;
pub mod template;
