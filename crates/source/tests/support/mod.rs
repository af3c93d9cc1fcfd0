//! Test support: repositories made with the real `git` CLI, and a smart-HTTP server that runs
//! `git http-backend` as a CGI program.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Run `git` in `dir` with an isolated configuration; panics with git's output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_at(dir, args, 1_700_000_000)
}

/// Like [`git`], with author and committer time `time` (unix seconds).
pub fn git_at(dir: &Path, args: &[&str], time: i64) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "advice.detachedHead=false",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", format!("@{time} +0000"))
        .env("GIT_COMMITTER_DATE", format!("@{time} +0000"))
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An upstream bare repository and a working clone that commits and pushes to it.
pub struct Upstream {
    pub tmp: tempfile::TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
    clock: std::cell::Cell<i64>,
}

impl Upstream {
    /// A bare repository `name` (under a fresh temp dir) with one commit on `main`.
    pub fn new(name: &str) -> Upstream {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bare = tmp.path().join(name);
        let work = tmp.path().join("work");
        std::fs::create_dir_all(&bare).expect("mkdir");
        git(&bare, &["init", "--bare", "-q"]);
        git(
            tmp.path(),
            &["clone", "-q", bare.to_str().expect("utf-8"), "work"],
        );
        let up = Upstream {
            tmp,
            bare,
            work,
            clock: std::cell::Cell::new(1_700_000_000),
        };
        up.write("README.md", b"hello\n");
        up.commit("initial");
        up.git(&["push", "-q", "origin", "main"]);
        up
    }

    /// `file://` URL of the bare repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Run git in the working clone, at the current fake time.
    pub fn git(&self, args: &[&str]) -> String {
        git_at(&self.work, args, self.clock.get())
    }

    /// Write a file in the working clone (creating directories).
    pub fn write(&self, path: &str, data: &[u8]) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, data).expect("write");
    }

    /// Commit everything, one fake minute after the previous commit; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        self.clock.set(self.clock.get() + 60);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// The committer time of the last commit.
    pub fn now(&self) -> i64 {
        self.clock.get()
    }
}

/// A smart-HTTP git server on 127.0.0.1: `git http-backend` behind a tiny HTTP/1.1 server, one
/// thread per connection, `Connection: close` after every response.
pub struct HttpServer {
    pub addr: std::net::SocketAddr,
    /// Requests currently being served, and the most ever served at once.
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
}

#[derive(Clone)]
pub struct ServerOptions {
    /// Serve repositories under this directory.
    pub root: PathBuf,
    /// Require `Authorization: Basic` with this user and password.
    pub basic_auth: Option<(String, String)>,
    /// Sleep this long before answering each request.
    pub delay: Duration,
}

impl HttpServer {
    pub fn start(options: ServerOptions) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let server = HttpServer {
            addr,
            in_flight: in_flight.clone(),
            max_in_flight: max_in_flight.clone(),
            requests: requests.clone(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let options = options.clone();
                let in_flight = in_flight.clone();
                let max_in_flight = max_in_flight.clone();
                let requests = requests.clone();
                std::thread::spawn(move || {
                    let counters = Counters {
                        in_flight: &in_flight,
                        max_in_flight: &max_in_flight,
                        requests: &requests,
                    };
                    let _ = serve(stream, &options, &counters);
                });
            }
        });
        server
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{repo}", self.addr)
    }
}

/// A server that accepts connections and never answers (for timeouts). Returns its URL.
pub fn start_black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
            if held.len() > 16 {
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    format!("http://{addr}/repo.git")
}

struct Counters<'a> {
    in_flight: &'a AtomicUsize,
    max_in_flight: &'a AtomicUsize,
    requests: &'a AtomicUsize,
}

/// Counts a request as in flight from when it has been read until just before its response is
/// written, so a client's next request can never overlap its previous one in the count.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Request> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if req
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                // Trailers until an empty line.
                loop {
                    let mut t = String::new();
                    reader.read_line(&mut t)?;
                    if t.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk)?;
            req.body.extend_from_slice(&chunk);
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(len) = req.header("Content-Length") {
        let len: usize = len.parse().unwrap_or(0);
        req.body = vec![0; len];
        reader.read_exact(&mut req.body)?;
    }
    Ok(req)
}

fn serve(
    stream: TcpStream,
    options: &ServerOptions,
    counters: &Counters<'_>,
) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let req = read_request(&mut reader)?;
    counters.requests.fetch_add(1, Ordering::SeqCst);
    let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    counters.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let in_flight = InFlight(counters.in_flight);
    std::thread::sleep(options.delay);

    if let Some((user, password)) = &options.basic_auth {
        let expected = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        if req.header("Authorization") != Some(expected.as_str()) {
            drop(in_flight);
            let body = b"authentication required\n";
            write!(
                writer,
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            writer.write_all(body)?;
            return writer.flush();
        }
    }

    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (req.target.clone(), String::new()),
    };
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &options.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", &query)
        .env("CONTENT_TYPE", req.header("Content-Type").unwrap_or(""))
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = req.header("Git-Protocol") {
        cmd.env("HTTP_GIT_PROTOCOL", p);
    }
    if let Some(e) = req.header("Content-Encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", e);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let body = req.body;
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output()?;
    let _ = feeder.join();

    // CGI response: headers, blank line, body.
    let stdout = out.stdout;
    let (head, body) = match find(&stdout, b"\r\n\r\n") {
        Some(i) => (&stdout[..i], &stdout[i + 4..]),
        None => match find(&stdout, b"\n\n") {
            Some(i) => (&stdout[..i], &stdout[i + 2..]),
            None => (&stdout[..0], &stdout[..]),
        },
    };
    let mut status = "200 OK".to_string();
    let mut headers = String::new();
    for line in String::from_utf8_lossy(head).lines() {
        let line = line.trim_end();
        if let Some(s) = line.strip_prefix("Status:") {
            status = s.trim().to_string();
        } else if !line.is_empty() {
            headers.push_str(line);
            headers.push_str("\r\n");
        }
    }
    drop(in_flight);
    write!(
        writer,
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    writer.write_all(body)?;
    writer.flush()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[test]
fn base64_matches_rfc4648() {
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
}

/// Where Debian's openssh-server puts the daemon (`scripts/setup` installs it).
pub const SSHD: &str = "/usr/sbin/sshd";

/// A real OpenSSH server on 127.0.0.1, run as the current user with its own configuration in a
/// temp dir: one generated host key, one generated client key (the only authorized one), no
/// passwords. Stopped when dropped.
pub struct SshServer {
    pub port: u16,
    /// The login name (the current user).
    pub user: String,
    /// The client's private key (OpenSSH format), for `Credentials::SshKey`.
    pub client_key: String,
    /// The server's public host key (`ssh-ed25519 AAAA...`).
    pub host_key: String,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl SshServer {
    /// `None` when there is no sshd on this machine.
    pub fn start() -> Option<SshServer> {
        if !Path::new(SSHD).is_file() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let host = dir.path().join("host_ed25519");
        let client = dir.path().join("client_ed25519");
        keygen(&host);
        keygen(&client);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client.with_extension("pub"), &authorized).expect("authorized_keys");
        let host_key = public_key(&host);
        let client_key = std::fs::read_to_string(&client).expect("client key");
        let user = String::from_utf8(
            Command::new("id")
                .arg("-un")
                .output()
                .expect("id runs")
                .stdout,
        )
        .expect("utf-8 user name")
        .trim()
        .to_string();
        if is_root() {
            // sshd started by root insists on its privilege-separation directory, which
            // Debian's service unit creates at boot and a container without systemd lacks.
            std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        }
        // A port that was free a moment ago; sshd fails at once if someone took it since.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\n\
                 ListenAddress 127.0.0.1\n\
                 HostKey {host}\n\
                 AuthorizedKeysFile {authorized}\n\
                 PidFile {pid}\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 PermitRootLogin prohibit-password\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 AllowTcpForwarding no\n\
                 X11Forwarding no\n",
                host = host.display(),
                authorized = authorized.display(),
                pid = dir.path().join("sshd.pid").display(),
            ),
        )
        .expect("write sshd_config");
        let log = std::fs::File::create(dir.path().join("sshd.log")).expect("sshd.log");
        let child = Command::new(SSHD)
            .arg("-f")
            .arg(&config)
            .args(["-D", "-e"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let mut server = SshServer {
            port,
            user,
            client_key,
            host_key,
            child,
            dir,
        };
        server.wait_listening();
        Some(server)
    }

    fn wait_listening(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("sshd status") {
                panic!("sshd exited ({status}): {}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sshd does not listen on port {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What sshd wrote so far (it logs to stderr with `-e`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// `ssh://user@127.0.0.1:port<path>` for an absolute `path` on this machine.
    pub fn url(&self, path: &Path) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            path.display()
        )
    }

    /// The `known_hosts` line for this server (`[127.0.0.1]:port` since the port is not 22).
    pub fn known_hosts(&self) -> String {
        format!("[127.0.0.1]:{} {}\n", self.port, self.host_key)
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new ed25519 key pair without passphrase at `path` and `path.pub`.
pub fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "trellis-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "ssh-keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `type base64` of the public key next to `private` (without the comment).
pub fn public_key(private: &Path) -> String {
    let text = std::fs::read_to_string(private.with_extension("pub")).expect("public key");
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}
