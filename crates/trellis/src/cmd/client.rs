//! What `trellis login`, `trellis env` and `trellis app` share: where the server and the token
//! come from (flags, then `TRELLIS_SERVER`/`TRELLIS_TOKEN`, then the file `trellis login` wrote),
//! the HTTP client over `/api/v1`, the API's errors as clear messages, and the output formats.
//!
//! The token goes only in the `Authorization` header, never in a URL.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;

use server::api::types::ApiError;

/// Exit code of `wait` when what it waits for is Degraded (or its operation failed).
pub const EXIT_NOT_HEALTHY: u8 = 1;
/// Exit code when the API refused or failed a request (or it could not be reached).
pub const EXIT_ERROR: u8 = 2;
/// Exit code of `wait` on timeout (as `timeout(1)`).
pub const EXIT_TIMEOUT: u8 = 124;

/// Where to reach the API: given on the command line, in the environment, or saved by
/// `trellis login`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Trellis server URL (default: the one saved by `trellis login`).
    #[arg(long, env = "TRELLIS_SERVER", global = true)]
    pub server: Option<String>,
    /// API token (default: the one saved by `trellis login`).
    #[arg(long, env = "TRELLIS_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
}

/// How to print what the API answered.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The API's JSON, pretty-printed.
    Json,
    /// The same as YAML.
    Yaml,
}

/// The file `trellis login` writes.
#[derive(serde::Serialize, serde::Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct Config {
    pub server: String,
    pub token: String,
}

/// `$XDG_CONFIG_HOME/trellis/config`, else `~/.config/trellis/config`.
pub fn config_path() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("trellis").join("config"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither XDG_CONFIG_HOME nor HOME is set: cannot find the config file")?;
    Ok(PathBuf::from(home)
        .join(".config")
        .join("trellis")
        .join("config"))
}

pub fn load_config() -> Result<Option<Config>> {
    let path = config_path()?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let cfg: Config =
        serde_saphyr::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(cfg))
}

/// Write the config with mode 0600 (it holds a token), replacing the file atomically.
pub fn save_config(cfg: &Config) -> Result<PathBuf> {
    let path = config_path()?;
    let dir = path.parent().context("config path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let text = serde_saphyr::to_string(cfg).context("serialising the config")?;
    let tmp = dir.join(format!(".config.{}.tmp", std::process::id()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        #[cfg(unix)]
        {
            // An existing file keeps its mode on open: set it explicitly.
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `https://host` stays, `host:port` becomes `http://host:port`, a trailing `/` goes.
pub fn normalize_server(s: &str) -> Result<String> {
    let s = s.trim().trim_end_matches('/');
    if s.is_empty() {
        bail!("the server URL is empty");
    }
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let url = reqwest::Url::parse(&with_scheme)
        .with_context(|| format!("{s:?} is not a server URL (like https://trellis.example.com)"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        bail!("{s:?}: the server URL must start with http:// or https://");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("{s:?}: the server URL must not have a query or fragment");
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
}

/// An error answer of the API, kept apart so callers can tell a 404 from the rest.
#[derive(Debug)]
pub struct HttpError {
    pub status: reqwest::StatusCode,
    pub message: String,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)?;
        match self.status.as_u16() {
            401 => write!(
                f,
                "; check the token (trellis login SERVER --token T, --token or TRELLIS_TOKEN)"
            ),
            403 => write!(f, "; the token's role may not do this"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for HttpError {}

/// Whether `e` is the API saying 404.
pub fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<HttpError>()
        .is_some_and(|h| h.status == reqwest::StatusCode::NOT_FOUND)
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// From the flags/environment, falling back to the saved config.
    pub fn new(conn: &ConnArgs) -> Result<Client> {
        let saved = if conn.server.is_none() || conn.token.is_none() {
            load_config()?
        } else {
            None
        };
        let server = conn
            .server
            .clone()
            .or_else(|| saved.as_ref().map(|c| c.server.clone()))
            .filter(|s| !s.is_empty())
            .context(
                "no server: run `trellis login SERVER --token T`, or pass --server (or set TRELLIS_SERVER)",
            )?;
        let token = conn
            .token
            .clone()
            .or_else(|| saved.as_ref().map(|c| c.token.clone()))
            .unwrap_or_default();
        Client::with(&server, &token)
    }

    pub fn with(server: &str, token: &str) -> Result<Client> {
        // reqwest is built with rustls and no provider of its own: ring, as everywhere in Trellis.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("trellis-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            base: normalize_server(server)?,
            token: token.trim().to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{}", self.base, path.trim_start_matches('/'))
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response> {
        self.send_as(
            req.timeout(Duration::from_secs(60)),
            "application/json",
            what,
        )
        .await
    }

    async fn send_as(
        &self,
        req: reqwest::RequestBuilder,
        accept: &str,
        what: &str,
    ) -> Result<reqwest::Response> {
        let req = if self.token.is_empty() {
            req
        } else {
            req.bearer_auth(&self.token)
        };
        let res = req
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach {}: {}", self.base, root_cause(&e)))
            .with_context(|| what.to_string())?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let body = res.text().await.unwrap_or_default();
        let message = match serde_json::from_str::<ApiError>(&body) {
            Ok(e) if !e.error.is_empty() => e.error,
            _ if body.trim().is_empty() => status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_string(),
            _ => body.trim().chars().take(500).collect(),
        };
        Err(anyhow::Error::new(HttpError { status, message }).context(what.to_string()))
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<T> {
        let query: Vec<_> = query.iter().filter(|(_, v)| !v.is_empty()).collect();
        let res = self
            .send(self.http.get(self.url(path)).query(&query), what)
            .await?;
        decode(res, what).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        what: &str,
    ) -> Result<T> {
        let res = self
            .send(self.http.post(self.url(path)).json(body), what)
            .await?;
        decode(res, what).await
    }

    /// `GET /api/v1/stream` with these filters: once this returns, the server has subscribed
    /// this client, so a state read afterwards misses no change.
    pub async fn stream(&self, query: &[(&str, &str)], what: &str) -> Result<EventStream> {
        let query: Vec<_> = query.iter().filter(|(_, v)| !v.is_empty()).collect();
        // No overall timeout: the answer is endless (keep-alive comments every few seconds).
        let res = self
            .send_as(
                self.http.get(self.url("stream")).query(&query),
                "text/event-stream",
                what,
            )
            .await?;
        Ok(EventStream {
            res,
            buf: Vec::new(),
            event: String::new(),
            data: String::new(),
        })
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T> {
        let res = self.send(self.http.delete(self.url(path)), what).await?;
        decode(res, what).await
    }
}

/// Server-sent events, read from a streamed answer.
pub struct EventStream {
    res: reqwest::Response,
    buf: Vec<u8>,
    event: String,
    data: String,
}

impl EventStream {
    /// The next event (name, data); `None` when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<(String, String)>> {
        loop {
            while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&raw);
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some(ev) = self.line(line) {
                    return Ok(Some(ev));
                }
            }
            match self
                .res
                .chunk()
                .await
                .context("reading the change stream")?
            {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
    }

    fn line(&mut self, line: &str) -> Option<(String, String)> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if data.is_empty() {
                return None;
            }
            let name = if event.is_empty() {
                "message".into()
            } else {
                event
            };
            return Some((name, data));
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if !self.data.is_empty() {
                    self.data.push('\n');
                }
                self.data.push_str(value);
            }
            _ => {}
        }
        None
    }
}

async fn decode<T: DeserializeOwned>(res: reqwest::Response, what: &str) -> Result<T> {
    let bytes = res
        .bytes()
        .await
        .with_context(|| format!("{what}: reading the answer"))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{what}: the server's answer is not what this trellis expects (is it a Trellis server of the same version?)"
        )
    })
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        last = c.to_string();
        cur = c.source();
    }
    last
}

/// A path segment: names are DNS labels, but never let one change the path.
pub fn seg(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Print `value` as JSON or YAML; `false` when the format is a table (the caller prints one).
pub fn print_structured<T: Serialize>(output: Output, value: &T) -> Result<bool> {
    match output {
        Output::Table => Ok(false),
        Output::Json => {
            println!("{}", serde_json::to_string_pretty(value)?);
            Ok(true)
        }
        Output::Yaml => {
            let text = serde_saphyr::to_string(value).context("writing YAML")?;
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(true)
        }
    }
}

/// Aligned columns; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < width.len() {
                width[i] = width[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut l = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            l.push_str(c);
            if i + 1 < n {
                let pad = width[i].saturating_sub(c.chars().count()) + 3;
                l.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// `3m`, `2h5m`, `4d` since an RFC 3339 time; `-` when absent or unreadable.
pub fn age(rfc3339: &str) -> String {
    let Ok(t) = rfc3339.parse::<jiff::Timestamp>() else {
        return "-".into();
    };
    let secs = jiff::Timestamp::now().as_second() - t.as_second();
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86400),
    }
}

/// A commit id as people read it.
pub fn short(rev: &str) -> String {
    if rev.is_empty() {
        "-".into()
    } else {
        rev.chars().take(7).collect()
    }
}

/// `-` for an empty cell.
pub fn or_dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.into() }
}

/// Run an async command body on a runtime and turn its error into a clear line and exit code.
pub fn run_command<F>(fut: F) -> ExitCode
where
    F: std::future::Future<Output = Result<ExitCode>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match rt.block_on(fut) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {}", super::error_chain(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `5m`, `90s`, `1h30m` for messages.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        1..60 => format!("{s}s"),
        60..3600 if s.is_multiple_of(60) => format!("{}m", s / 60),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// `--timeout 5m`, `90s`, `1h`, `300` (seconds).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 90s, 5m, 1h)"))?;
    let mult = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m or h)")),
    };
    let secs = n * mult;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_normalised() {
        assert_eq!(
            normalize_server("localhost:8080/").expect("ok"),
            "http://localhost:8080"
        );
        assert_eq!(
            normalize_server("https://t.example.com").expect("ok"),
            "https://t.example.com"
        );
        assert!(normalize_server("ftp://x").is_err());
        assert!(normalize_server("").is_err());
        assert!(normalize_server("http://x/?token=a").is_err());
    }

    #[test]
    fn segments_cannot_escape_the_path() {
        assert_eq!(seg("web-feat-1"), "web-feat-1");
        assert_eq!(seg("../x"), "..%2Fx");
        assert_eq!(seg("a b?c"), "a%20b%3Fc");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[tokio::test]
    async fn server_sent_events_are_parsed() {
        let body = "event: ready\ndata: {}\n\n: keep-alive\n\nevent: application\r\ndata: {\"a\":1}\r\n\r\ndata: x\ndata:y\n\nevent: empty\n\n";
        let res = reqwest::Response::from(hyper::Response::new(body.to_string()));
        let mut s = EventStream {
            res,
            buf: Vec::new(),
            event: String::new(),
            data: String::new(),
        };
        let mut got = Vec::new();
        while let Some(ev) = s.next().await.expect("read") {
            got.push(ev);
        }
        let want: Vec<(String, String)> = [
            ("ready", "{}"),
            ("application", "{\"a\":1}"),
            ("message", "x\ny"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["NAME", "HEALTH"],
            &[
                vec!["a".into(), "Healthy".into()],
                vec!["long-name".into(), "".into()],
            ],
        );
        assert_eq!(t, "NAME        HEALTH\na           Healthy\nlong-name\n");
    }
}
