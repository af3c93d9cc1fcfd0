//! Run a dev cluster from the devcluster crate alone (handy while the `trellis` binary is not
//! built): `cargo run -p devcluster --example serve -- [KUBECONFIG_OUT]`.

#[tokio::main]
async fn main() -> Result<(), devcluster::Error> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/devcluster.kubeconfig".into());
    let cluster = devcluster::DevCluster::builder()
        .kubeconfig_out(&out)
        .start()
        .await?;
    eprintln!("serving at {}", cluster.url());
    println!("{}", cluster.kubeconfig_path().display());
    let _ = tokio::signal::ctrl_c().await;
    Ok(())
}
