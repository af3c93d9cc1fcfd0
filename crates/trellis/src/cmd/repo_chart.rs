//! Charts from Helm repositories: `trellis template REPO/CHART [--version C] [--devel]` finds the
//! chart as `helm template` does, from Helm's own configuration — `repositories.yaml` and the
//! index `helm repo add`/`helm repo update` cached — downloads the archive into Helm's
//! repository cache (where Helm puts it too) and hands back its path. OCI references and
//! `--repo` are not handled here. [`fetch_url`] also serves values files and `--set-file`
//! sources given as URLs.
//!
//! Reads Helm's files and fetches over HTTP(S) (hyper with rustls and the system's roots, the
//! stack `kube` already brings); calls `helm` for YAML and version constraints.

use std::path::PathBuf;

use helm::semver::{Constraint, Version, cmp_versions, parse_version};

/// A repository as `repositories.yaml` lists it.
struct Repo {
    name: String,
    url: String,
    username: String,
    password: String,
}

fn env_path(k: &str) -> Option<PathBuf> {
    std::env::var_os(k)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Helm's `repositories.yaml`: `$HELM_REPOSITORY_CONFIG`, else in `$HELM_CONFIG_HOME`, else
/// `$XDG_CONFIG_HOME/helm`, else `~/.config/helm`.
fn repositories_file() -> Option<PathBuf> {
    env_path("HELM_REPOSITORY_CONFIG").or_else(|| {
        env_path("HELM_CONFIG_HOME")
            .or_else(|| env_path("XDG_CONFIG_HOME").map(|x| x.join("helm")))
            .or_else(|| env_path("HOME").map(|h| h.join(".config/helm")))
            .map(|d| d.join("repositories.yaml"))
    })
}

/// Helm's repository cache: `$HELM_REPOSITORY_CACHE`, else `repository` in `$HELM_CACHE_HOME`,
/// `$XDG_CACHE_HOME/helm` or `~/.cache/helm`.
fn repository_cache() -> Option<PathBuf> {
    env_path("HELM_REPOSITORY_CACHE").or_else(|| {
        env_path("HELM_CACHE_HOME")
            .or_else(|| env_path("XDG_CACHE_HOME").map(|x| x.join("helm")))
            .or_else(|| env_path("HOME").map(|h| h.join(".cache/helm")))
            .map(|d| d.join("repository"))
    })
}

fn string_field(v: &gotemplate::Value, key: &str) -> String {
    v.as_map()
        .and_then(|m| m.get(key))
        .and_then(|s| s.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The repository named `name`, if Helm's configuration has it.
fn find_repo(name: &str) -> Option<Repo> {
    let text = std::fs::read_to_string(repositories_file()?).ok()?;
    let config = helm::yaml::parse_map(&text).ok()?;
    let list = config.get("repositories")?.as_list()?.to_vec();
    list.iter()
        .find(|r| string_field(r, "name") == name)
        .map(|r| Repo {
            name: name.to_string(),
            url: string_field(r, "url"),
            username: string_field(r, "username"),
            password: string_field(r, "password"),
        })
}

/// Resolve `REPO/NAME` to a downloaded archive in Helm's repository cache, choosing the
/// version as Helm's `IndexFile.Get` does: an exact match first, else the highest version the
/// constraint accepts (`*`, which excludes pre-releases, when none is given; `>0.0.0-0` with
/// `--devel`). Errors are Helm's. `Ok(None)`: `chart` does not name a chart in a configured
/// repository (an OCI reference, no `/`, or an unknown repository).
pub fn locate(chart: &str, version: Option<&str>, devel: bool) -> Result<Option<PathBuf>, String> {
    if chart.starts_with("oci://") {
        return Ok(None);
    }
    let Some((repo_name, chart_name)) = chart.split_once('/') else {
        return Ok(None);
    };
    let Some(repo) = find_repo(repo_name) else {
        return Ok(None);
    };
    let cache = repository_cache().ok_or("no repository cache directory (HOME unset)")?;
    let index_path = cache.join(format!("{}-index.yaml", repo.name));
    let index_text = std::fs::read_to_string(&index_path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            _ => e.to_string(),
        };
        format!(
            "no cached repo found. (try 'helm repo update'): open {}: {why}",
            index_path.display()
        )
    })?;
    let index = helm::yaml::parse_map(&index_text)
        .map_err(|e| format!("{}: {}", index_path.display(), e.message))?;
    let version = match version.unwrap_or("") {
        "" if devel => ">0.0.0-0",
        v => v,
    };
    let not_found = |why: &str| {
        format!(
            "chart {chart_name:?} matching {version} not found in {} index. (try 'helm repo update'): {why}",
            repo.name
        )
    };
    let entries = index
        .get("entries")
        .and_then(|e| e.as_map().and_then(|m| m.get(chart_name)))
        .and_then(|l| l.as_list().map(|l| l.to_vec()))
        .ok_or_else(|| not_found("no chart name found"))?;
    if entries.is_empty() {
        return Err(not_found("no chart version found"));
    }
    // Helm sorts each chart's entries by version, highest first.
    let mut versions: Vec<(Option<Version>, gotemplate::Value)> = entries
        .into_iter()
        .map(|e| (parse_version(&string_field(&e, "version")), e))
        .collect();
    versions.sort_by(|a, b| cmp_versions(b.0.as_ref(), a.0.as_ref()));
    let exact = (!version.is_empty())
        .then(|| {
            versions
                .iter()
                .find(|(_, e)| string_field(e, "version") == version)
        })
        .flatten();
    let chosen = match exact {
        Some((_, e)) => e.clone(),
        None => {
            let constraint = Constraint::parse(if version.is_empty() { "*" } else { version })
                .ok_or_else(|| not_found(&format!("improper constraint: {version}")))?;
            versions
                .iter()
                .find(|(v, _)| v.as_ref().is_some_and(|v| constraint.matches(v)))
                .map(|(_, e)| e.clone())
                .ok_or_else(|| {
                    not_found(&format!(
                        "no chart version found for {chart_name}-{version}"
                    ))
                })?
        }
    };
    let url = chosen
        .as_map()
        .and_then(|m| m.get("urls"))
        .and_then(|u| u.as_list().and_then(|l| l.first().cloned()))
        .and_then(|u| u.as_str().map(str::to_string))
        .ok_or_else(|| format!("chart {chart_name:?} has no downloadable URLs"))?;
    let url = resolve_reference(&repo.url, &url);
    let file_name = url
        .split(['?', '#'])
        .next()
        .and_then(|p| p.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("cannot name the archive of {url}"))?
        .to_string();
    let bytes = fetch(&url, &repo)?;
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let dest = cache.join(file_name);
    std::fs::write(&dest, bytes).map_err(|e| format!("{}: {e}", dest.display()))?;
    Ok(Some(dest))
}

/// Helm's `ResolveReferenceURL`: an absolute URL as is, else relative to the repository URL
/// taken as a directory.
fn resolve_reference(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_string();
    }
    let base = base.trim_end_matches('/');
    if let Some(path) = reference.strip_prefix('/') {
        // Root-relative: scheme and host of the repository.
        let host_end = base
            .find("://")
            .and_then(|s| base[s + 3..].find('/').map(|i| s + 3 + i))
            .unwrap_or(base.len());
        return format!("{}/{path}", &base[..host_end]);
    }
    format!("{base}/{}", reference.trim_start_matches("./"))
}

/// GET `url` with the repository's credentials.
fn fetch(url: &str, repo: &Repo) -> Result<Vec<u8>, String> {
    let auth =
        (!repo.username.is_empty()).then_some((repo.username.as_str(), repo.password.as_str()));
    fetch_url(url, auth)
}

/// GET `url` (basic auth when given); Helm's wording on failure.
pub fn fetch_url(url: &str, basic_auth: Option<(&str, &str)>) -> Result<Vec<u8>, String> {
    use http_body_util::BodyExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("loading the system's root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client: hyper_util::client::legacy::Client<
            _,
            http_body_util::Empty<hyper::body::Bytes>,
        > = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https);
        let mut request = hyper::Request::get(url).header("User-Agent", "Helm/3.17.2");
        if let Some((user, password)) = basic_auth {
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request = request.header("Authorization", format!("Basic {token}"));
        }
        let request = request
            .body(http_body_util::Empty::new())
            .map_err(|e| format!("{url}: {e}"))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("failed to fetch {url} : {status}"));
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        Ok(body.to_bytes().to_vec())
    })
}

#[cfg(test)]
mod tests {
    use super::resolve_reference;

    #[test]
    fn archive_urls_resolve_against_the_repository_as_helm_does() {
        assert_eq!(
            resolve_reference("https://h/charts", "x-1.0.0.tgz"),
            "https://h/charts/x-1.0.0.tgz"
        );
        assert_eq!(
            resolve_reference("https://h/charts/", "./x-1.0.0.tgz"),
            "https://h/charts/x-1.0.0.tgz"
        );
        assert_eq!(
            resolve_reference("https://h/charts", "/other/x.tgz"),
            "https://h/other/x.tgz"
        );
        assert_eq!(
            resolve_reference("https://h/charts", "http://elsewhere/x.tgz"),
            "http://elsewhere/x.tgz"
        );
    }
}
