//! Installing (or upgrading) the CRDs at start: server-side apply of the CRDs generated from the
//! Rust types, then wait until each is Established and served, so the controller's watches start
//! on kinds the API server knows.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

use crate::error::{Error, Result};

/// Apply every Trellis CRD (field manager `trellis`, forcing over older versions of ourselves)
/// and wait up to `timeout` for each to be Established.
pub async fn install_crds(client: &kube::Client, timeout: Duration) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("trellis").force();
    let crds = crate::types::crds();
    for crd in &crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &pp, &Patch::Apply(crd))
            .await
            .map_err(|e| Error::kube(format!("installing CustomResourceDefinition {name}"), e))?;
    }
    let deadline = Instant::now() + timeout;
    for crd in &crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        loop {
            let live = api
                .get(&name)
                .await
                .map_err(|e| Error::kube(format!("reading CustomResourceDefinition {name}"), e))?;
            let established = live
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if established {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::Invalid(format!(
                    "CustomResourceDefinition {name} is not Established after {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Discovery lags behind Established on a real API server: wait until the kinds are served.
    let group = crate::types::GROUP;
    let version = crate::types::VERSION;
    loop {
        let ok = kube::discovery::pinned_kind(
            client,
            &kube::core::GroupVersionKind::gvk(group, version, "EnvironmentSet"),
        )
        .await
        .is_ok();
        if ok {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Invalid(format!(
                "the API server does not serve {group}/{version} after {timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
