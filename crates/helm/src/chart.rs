//! The chart model and its loader: a chart directory or `.tgz` becomes a [`Chart`]
//! exactly as Helm's `pkg/chart/loader` reads it (`Chart.yaml`, `values.yaml`,
//! `values.schema.json`, `templates/`, `charts/` subcharts as directories or archives,
//! `requirements.yaml` for apiVersion v1, `.helmignore`), with limits so a hostile chart
//! (escaping symlinks, huge or irregular files) is an error, never a hang or a panic.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gotemplate::{Map, MapRef, Value};

use crate::ignore::Rules;
use crate::yaml;

/// Helm's `MaxDecompressedChartSize` (100 MiB).
pub const MAX_CHART_SIZE: u64 = 100 * 1024 * 1024;
/// Helm's `MaxDecompressedFileSize` (5 MiB).
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024;
/// Deepest subchart nesting accepted (guards against archive bombs nesting charts).
const MAX_NESTING: usize = 32;

/// A loading error; the text is Helm's where Helm has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Io(String),
    #[error("Chart.yaml file is missing")]
    MissingChartYaml,
    #[error("cannot load {file}: {message}")]
    Yaml {
        file: String,
        message: String,
        line: Option<usize>,
    },
    #[error("validation: {0}")]
    Validation(String),
    #[error("chart file {0:?} is larger than the maximum file size {MAX_FILE_SIZE}")]
    FileTooLarge(String),
    #[error("chart exceeds maximum decompressed size {MAX_CHART_SIZE}")]
    ChartTooLarge,
    #[error("cannot load irregular file {0} as it has file mode type bits set")]
    Irregular(String),
    #[error("chart file {0:?} is a symbolic link pointing outside the chart")]
    SymlinkEscape(String),
    #[error("error unpacking {name} in {parent}: {source}")]
    Subchart {
        name: String,
        parent: String,
        source: Box<LoadError>,
    },
    #[error("{0}")]
    Archive(String),
    #[error("{0}")]
    Ignore(String),
}

/// One file of a chart, path relative to the chart root with `/` separators.
#[derive(Debug, Clone)]
pub struct File {
    pub name: String,
    pub data: Arc<[u8]>,
}

/// A maintainer entry of `Chart.yaml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
    pub url: String,
}

/// A `dependencies:` entry of `Chart.yaml` (or `requirements.yaml`).
#[derive(Debug, Clone, Default)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    /// Raw `import-values` entries (strings or `{child, parent}` maps).
    pub import_values: Vec<Value>,
    pub alias: String,
}

/// `Chart.yaml`.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub name: String,
    pub home: String,
    pub sources: Vec<String>,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub maintainers: Vec<Maintainer>,
    pub icon: String,
    pub api_version: String,
    pub condition: String,
    pub tags: String,
    pub app_version: String,
    pub deprecated: bool,
    pub annotations: BTreeMap<String, String>,
    pub kube_version: String,
    pub dependencies: Vec<Dependency>,
    pub chart_type: String,
}

/// A loaded chart with its subcharts.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub metadata: Metadata,
    /// Files under `templates/` (names keep the `templates/` prefix).
    pub templates: Vec<File>,
    /// Parsed `values.yaml` (empty when absent).
    pub values: Map,
    /// `values.schema.json` bytes, if present.
    pub schema: Option<Arc<[u8]>>,
    /// Every other file (what `.Files` sees), including `crds/`.
    pub files: Vec<File>,
    /// Subcharts found under `charts/`, sorted by directory/archive name.
    pub dependencies: Vec<Chart>,
}

impl Chart {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }
    /// Files under `crds/` (Helm's `CRDObjects` source).
    pub fn crd_files(&self) -> impl Iterator<Item = &File> {
        self.files.iter().filter(|f| f.name.starts_with("crds/"))
    }
}

/// Load a chart from a directory or a `.tgz` archive.
pub fn load(path: &Path) -> Result<Chart, LoadError> {
    let meta = std::fs::metadata(path).map_err(|e| LoadError::Io(go_stat_error(path, &e)))?;
    if meta.is_dir() {
        load_dir(path)
    } else {
        let data = read_limited(path, MAX_CHART_SIZE)?;
        // Helm's ensureArchive: the first 512 bytes (zero-padded) must sniff as gzip.
        let mut head = [0u8; 512];
        let n = data.len().min(512);
        head[..n].copy_from_slice(&data[..n]);
        let kind = sniff_content_type(&head);
        if kind != "application/x-gzip" && !head.starts_with(&[0x1f, 0x8b, 0x08]) {
            // Helm has made the chart path absolute by then.
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let shown = shown.display();
            let name = path.to_string_lossy();
            return Err(LoadError::Archive(
                if name.ends_with(".yml") || name.ends_with(".yaml") {
                    format!(
                        "file '{shown}' seems to be a YAML file, but expected a gzipped archive"
                    )
                } else {
                    format!("file '{shown}' does not appear to be a gzipped archive; got '{kind}'")
                },
            ));
        }
        load_archive(&data)
    }
}

/// Go's `http.DetectContentType` for the types a mistaken chart path is likely to be (web
/// pages, XML, PDF, images, zip and other archives, text), in its order of checks.
fn sniff_content_type(data: &[u8]) -> &'static str {
    let ws = |b: &u8| matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' ');
    let trimmed = &data[data.iter().position(|b| !ws(b)).unwrap_or(data.len())..];
    for tag in [
        "<!DOCTYPE HTML",
        "<HTML",
        "<HEAD",
        "<SCRIPT",
        "<IFRAME",
        "<H1",
        "<DIV",
        "<FONT",
        "<TABLE",
        "<A",
        "<STYLE",
        "<TITLE",
        "<B",
        "<BODY",
        "<BR",
        "<P",
        "<!--",
    ] {
        let t = tag.as_bytes();
        if trimmed.len() > t.len()
            && trimmed[..t.len()].eq_ignore_ascii_case(t)
            && matches!(trimmed[t.len()], b' ' | b'>')
        {
            return "text/html; charset=utf-8";
        }
    }
    if trimmed.starts_with(b"<?xml") {
        return "text/xml; charset=utf-8";
    }
    let exact: &[(&[u8], &str)] = &[
        (b"%PDF-", "application/pdf"),
        (b"%!PS-Adobe-", "application/postscript"),
        (b"\xfe\xff", "text/plain; charset=utf-16be"),
        (b"\xff\xfe", "text/plain; charset=utf-16le"),
        (b"\xef\xbb\xbf", "text/plain; charset=utf-8"),
        (b"\x00\x00\x01\x00", "image/x-icon"),
        (b"\x00\x00\x02\x00", "image/x-icon"),
        (b"BM", "image/bmp"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\x89PNG\x0d\x0a\x1a\x0a", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"\x1f\x8b\x08", "application/x-gzip"),
        (b"PK\x03\x04", "application/zip"),
        (b"Rar!\x1a\x07\x00", "application/x-rar-compressed"),
        (b"Rar!\x1a\x07\x01\x00", "application/x-rar-compressed"),
        (b"\x00asm", "application/wasm"),
    ];
    for (magic, kind) in exact {
        if data.starts_with(magic) {
            return kind;
        }
    }
    // Text unless a byte no text holds appears (Go's textSig).
    let binary = |b: &u8| matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1a | 0x1c..=0x1f);
    if data.iter().any(binary) {
        "application/octet-stream"
    } else {
        "text/plain; charset=utf-8"
    }
}

fn go_stat_error(path: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("stat {}: no such file or directory", path.display())
        }
        _ => format!("stat {}: {e}", path.display()),
    }
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, LoadError> {
    let f = std::fs::File::open(path)
        .map_err(|e| LoadError::Io(format!("open {}: {e}", path.display())))?;
    // `Take` hides the file's size from `read_to_end`: size the buffer up front so a file is
    // one read, not a dozen growing ones.
    let hint = f.metadata().map_or(0, |m| m.len()).min(limit) as usize;
    let mut buf = Vec::with_capacity(hint + 1);
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| LoadError::Io(format!("read {}: {e}", path.display())))?;
    if buf.len() as u64 > limit {
        return Err(LoadError::ChartTooLarge);
    }
    Ok(buf)
}

/// Every file of a chart directory, as Helm's `LoadDir` walks it: sorted, `.helmignore`
/// applied, symlinks followed but never outside the chart root.
pub fn read_dir_files(root: &Path) -> Result<Vec<File>, LoadError> {
    let root = root
        .canonicalize()
        .map_err(|e| LoadError::Io(go_stat_error(root, &e)))?;
    let rules = match std::fs::read(root.join(".helmignore")) {
        Ok(text) => {
            Rules::parse(&crate::utf8_lossy(&text)).map_err(|e| LoadError::Ignore(e.to_string()))?
        }
        Err(_) => Rules::with_defaults(),
    };
    let mut files = Vec::new();
    let mut total = 0u64;
    walk(&root, &root, "", &rules, &mut files, &mut total, 0)?;
    Ok(files)
}

fn walk(
    root: &Path,
    dir: &Path,
    prefix: &str,
    rules: &Rules,
    out: &mut Vec<File>,
    total: &mut u64,
    depth: usize,
) -> Result<(), LoadError> {
    if depth > 64 {
        return Err(LoadError::Io(format!(
            "{}: directory nesting too deep",
            dir.display()
        )));
    }
    let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| LoadError::Io(format!("open {}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    entries.sort();
    for (name, path) in entries {
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let link = std::fs::symlink_metadata(&path).map_err(|e| LoadError::Io(e.to_string()))?;
        let (target, meta) = if link.file_type().is_symlink() {
            let resolved = path
                .canonicalize()
                .map_err(|e| LoadError::Io(format!("{}: {e}", path.display())))?;
            if !resolved.starts_with(root) {
                return Err(LoadError::SymlinkEscape(rel));
            }
            let meta = std::fs::metadata(&resolved).map_err(|e| LoadError::Io(e.to_string()))?;
            (resolved, meta)
        } else {
            // Not a link: its own metadata is the target's.
            (path.clone(), link)
        };
        if meta.is_dir() {
            if rules.ignore(&rel, true) {
                continue;
            }
            walk(root, &target, &rel, rules, out, total, depth + 1)?;
            continue;
        }
        if rules.ignore(&rel, false) {
            continue;
        }
        if !meta.is_file() {
            return Err(LoadError::Irregular(path.display().to_string()));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(LoadError::FileTooLarge(name));
        }
        *total += meta.len();
        if *total > MAX_CHART_SIZE {
            return Err(LoadError::ChartTooLarge);
        }
        let data = read_limited(&target, MAX_FILE_SIZE)
            .map_err(|_| LoadError::FileTooLarge(name.clone()))?;
        out.push(File {
            name: rel,
            data: strip_bom(data).into(),
        });
    }
    Ok(())
}

fn strip_bom(mut data: Vec<u8>) -> Vec<u8> {
    if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
        data.drain(..3);
    }
    data
}

/// Load a chart directory.
pub fn load_dir(root: &Path) -> Result<Chart, LoadError> {
    let files = read_dir_files(root)?;
    load_files(files, 0)
}

/// A gzip or tar read error in Go's words where Go's readers word it differently: a stream
/// that stops early is io.ErrUnexpectedEOF, a bad header gzip.ErrHeader.
fn archive_error(e: std::io::Error) -> LoadError {
    let text = e.to_string();
    LoadError::Archive(
        match text.as_str() {
            _ if e.kind() == std::io::ErrorKind::UnexpectedEof => "unexpected EOF",
            "incomplete deflate stream"
            | "unexpected end of file"
            | "failed to read entire block" => "unexpected EOF",
            "invalid gzip header" => "gzip: invalid header",
            other => other,
        }
        .to_string(),
    )
}

/// The files of a chart archive (`.tgz`), first path component stripped.
pub fn read_archive_files(data: &[u8]) -> Result<Vec<File>, LoadError> {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return Err(LoadError::Archive(
            "file does not appear to be a gzipped archive".into(),
        ));
    }
    let gz = flate2::read::GzDecoder::new(data);
    let mut ar = tar::Archive::new(gz.take(MAX_CHART_SIZE + 1));
    let mut files = Vec::new();
    let mut total = 0u64;
    let entries = ar.entries().map_err(archive_error)?;
    for entry in entries {
        let mut entry = entry.map_err(archive_error)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let raw = entry
            .path()
            .map_err(archive_error)?
            .to_string_lossy()
            .replace('\\', "/");
        if !kind.is_file() {
            // Links and devices inside archives are never followed.
            if kind.is_symlink() || kind.is_hard_link() {
                return Err(LoadError::SymlinkEscape(raw));
            }
            continue;
        }
        let mut parts = raw.splitn(2, '/');
        let first = parts.next().unwrap_or("");
        let Some(name) = parts.next() else {
            if first == "Chart.yaml" {
                return Err(LoadError::Archive(
                    "chart yaml not in base directory".into(),
                ));
            }
            continue;
        };
        let name = clean_path(name);
        if name.is_empty() || name.starts_with("../") || name == ".." {
            return Err(LoadError::Archive(format!(
                "chart illegally references parent directory: {raw}"
            )));
        }
        let size = entry.header().size().unwrap_or(0);
        if size > MAX_FILE_SIZE {
            return Err(LoadError::Archive(format!(
                "decompressed chart file {name:?} is larger than the maximum file size {MAX_FILE_SIZE}"
            )));
        }
        total += size;
        if total > MAX_CHART_SIZE {
            return Err(LoadError::ChartTooLarge);
        }
        let mut buf = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut buf)
            .map_err(archive_error)?;
        files.push(File {
            name,
            data: strip_bom(buf).into(),
        });
    }
    if files.is_empty() {
        return Err(LoadError::Archive("no files in chart archive".into()));
    }
    Ok(files)
}

/// Go's `path.Clean` for a relative path.
fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

/// Load a chart archive.
pub fn load_archive(data: &[u8]) -> Result<Chart, LoadError> {
    load_files(read_archive_files(data)?, 0)
}

/// Build a chart from its files (Helm's `LoadFiles`).
pub fn load_files(files: Vec<File>, depth: usize) -> Result<Chart, LoadError> {
    if depth > MAX_NESTING {
        return Err(LoadError::Archive("subcharts nested too deeply".into()));
    }
    let mut c = Chart::default();
    let mut have_meta = false;
    let mut requirements: Option<Vec<Dependency>> = None;
    let mut subcharts: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" => {
                c.metadata = parse_metadata(&f.data)?;
                have_meta = true;
            }
            "Chart.lock" => {}
            "values.yaml" => {
                c.values = yaml::file_text(&f.data)
                    .and_then(|text| yaml::parse_map(&text))
                    .map_err(|e| LoadError::Yaml {
                        file: "values.yaml".into(),
                        message: e.message,
                        line: e.line,
                    })?;
            }
            "values.schema.json" => c.schema = Some(f.data.clone()),
            "requirements.yaml" => {
                let v = parse_yaml_file("requirements.yaml", &f.data)?;
                // Helm reads it into the chart's Metadata too, with the same type checks.
                let mut cx = JsonContext {
                    strukt: None,
                    fields: Vec::new(),
                };
                if let Some(message) = json_type_error(&v, GoType::Struct(&METADATA), &mut cx) {
                    return Err(LoadError::Yaml {
                        file: "requirements.yaml".into(),
                        message,
                        line: None,
                    });
                }
                requirements = Some(dependencies_from(
                    v.as_map().and_then(|m| m.get("dependencies")).as_ref(),
                ));
                c.files.push(f);
            }
            "requirements.lock" => c.files.push(f),
            n if n.starts_with("templates/") => c.templates.push(f),
            n if n.starts_with("charts/") => {
                if n.ends_with(".prov") {
                    c.files.push(f);
                    continue;
                }
                let rest = &n["charts/".len()..];
                let cname = rest.split('/').next().unwrap_or("").to_string();
                subcharts.entry(cname).or_default().push(File {
                    name: rest.to_string(),
                    data: f.data,
                });
            }
            _ => c.files.push(f),
        }
    }
    if !have_meta {
        return Err(LoadError::MissingChartYaml);
    }
    if c.metadata.api_version.is_empty() {
        c.metadata.api_version = "v1".into();
    }
    if c.metadata.api_version == "v1"
        && let Some(deps) = requirements
    {
        c.metadata.dependencies = deps;
    }
    validate(&c.metadata)?;
    for (n, files) in subcharts {
        if n.starts_with('_') || n.starts_with('.') {
            continue;
        }
        let sc = if n.ends_with(".tgz") {
            let file = files.into_iter().find(|f| f.name == n);
            match file {
                Some(f) => read_archive_files(&f.data).and_then(|fs| load_files(fs, depth + 1)),
                None => continue,
            }
        } else {
            let buff: Vec<File> = files
                .into_iter()
                .filter_map(|f| {
                    f.name.split_once('/').map(|(_, rest)| File {
                        name: rest.to_string(),
                        data: f.data,
                    })
                })
                .collect();
            load_files(buff, depth + 1)
        };
        let sc = sc.map_err(|e| LoadError::Subchart {
            name: n.clone(),
            parent: c.metadata.name.clone(),
            source: Box::new(e),
        })?;
        c.dependencies.push(sc);
    }
    Ok(c)
}

fn parse_yaml_file(file: &str, data: &[u8]) -> Result<Value, LoadError> {
    yaml::file_text(data)
        .and_then(|text| yaml::parse(&text))
        .map_err(|e| LoadError::Yaml {
            file: file.into(),
            message: e.message,
            line: e.line,
        })
}

/// A scalar read into a Go `string` field through sigs.k8s.io/yaml.
fn string_field(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.to_string(),
        Some(Value::Float(f)) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                yaml::format_float_g32(*f as f32)
            }
        }
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_list)
        .map(|l| l.iter().map(|x| string_field(Some(x))).collect())
        .unwrap_or_default()
}

fn dependencies_from(v: Option<&Value>) -> Vec<Dependency> {
    let Some(list) = v.and_then(Value::as_list) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(Value::as_map)
        .map(MapRef::snapshot)
        .map(|d| Dependency {
            name: string_field(d.get("name")),
            version: string_field(d.get("version")),
            repository: string_field(d.get("repository")),
            condition: string_field(d.get("condition")),
            tags: string_list(d.get("tags")),
            enabled: matches!(d.get("enabled"), Some(Value::Bool(true))),
            import_values: d
                .get("import-values")
                .and_then(Value::as_list)
                .map(<[Value]>::to_vec)
                .unwrap_or_default(),
            alias: string_field(d.get("alias")),
        })
        .collect()
}

/// A Go type `json.Unmarshal` fills from `Chart.yaml` (Helm's `chart.Metadata`).
#[derive(Clone, Copy)]
enum GoType {
    /// `string`: sigs.k8s.io/yaml turns numbers and booleans into strings first.
    Str,
    Bool,
    /// `[]string`
    StrList,
    /// `map[string]string`
    StrMap,
    /// `[]interface {}`
    AnyList,
    /// `[]*chart.T`
    StructList(&'static GoStruct),
    /// `chart.T` (behind a pointer)
    Struct(&'static GoStruct),
}

/// A struct: its name, as `json` errors show it, and fields by JSON name.
struct GoStruct {
    name: &'static str,
    fields: &'static [(&'static str, GoType)],
}

const MAINTAINER: GoStruct = GoStruct {
    name: "Maintainer",
    fields: &[
        ("name", GoType::Str),
        ("email", GoType::Str),
        ("url", GoType::Str),
    ],
};

const DEPENDENCY: GoStruct = GoStruct {
    name: "Dependency",
    fields: &[
        ("name", GoType::Str),
        ("version", GoType::Str),
        ("repository", GoType::Str),
        ("condition", GoType::Str),
        ("tags", GoType::StrList),
        ("enabled", GoType::Bool),
        ("import-values", GoType::AnyList),
        ("alias", GoType::Str),
    ],
};

const METADATA: GoStruct = GoStruct {
    name: "Metadata",
    fields: &[
        ("name", GoType::Str),
        ("home", GoType::Str),
        ("sources", GoType::StrList),
        ("version", GoType::Str),
        ("description", GoType::Str),
        ("keywords", GoType::StrList),
        ("maintainers", GoType::StructList(&MAINTAINER)),
        ("icon", GoType::Str),
        ("apiVersion", GoType::Str),
        ("condition", GoType::Str),
        ("tags", GoType::Str),
        ("appVersion", GoType::Str),
        ("deprecated", GoType::Bool),
        ("annotations", GoType::StrMap),
        ("kubeVersion", GoType::Str),
        ("dependencies", GoType::StructList(&DEPENDENCY)),
        ("type", GoType::Str),
    ],
};

impl GoType {
    fn name(self) -> String {
        match self {
            GoType::Str => "string".into(),
            GoType::Bool => "bool".into(),
            GoType::StrList => "[]string".into(),
            GoType::StrMap => "map[string]string".into(),
            GoType::AnyList => "[]interface {}".into(),
            GoType::StructList(s) => format!("[]*chart.{}", s.name),
            GoType::Struct(s) => format!("chart.{}", s.name),
        }
    }
}

/// Where `json.Unmarshal` is: the innermost struct and the JSON field path to it.
struct JsonContext<'a> {
    strukt: Option<&'static str>,
    fields: Vec<&'a str>,
}

/// The first type error Go's `json.Unmarshal` reports filling `ty` from `v` (as
/// sigs.k8s.io/yaml hands it over: keys sorted, scalars already strings where a
/// string is wanted); it keeps going after one and returns the first.
fn json_type_error(v: &Value, ty: GoType, cx: &mut JsonContext<'_>) -> Option<String> {
    let kind = match v {
        Value::Nil => return None,
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Int(..) | Value::Float(_) => "number",
        Value::List(..) => "array",
        _ => "object",
    };
    let ok = match (ty, kind) {
        (GoType::Str, "string" | "number" | "bool")
        | (GoType::Bool, "bool")
        | (GoType::AnyList, "array") => true,
        (GoType::StrList, "array") => {
            let items = v.as_list().unwrap_or_default();
            return items
                .iter()
                .find_map(|x| json_type_error(x, GoType::Str, cx));
        }
        (GoType::StructList(s), "array") => {
            let items = v.as_list().unwrap_or_default();
            return items
                .iter()
                .find_map(|x| json_type_error(x, GoType::Struct(s), cx));
        }
        (GoType::StrMap, "object") => {
            let m = v.as_map().map(MapRef::snapshot).unwrap_or_default();
            return m.values().find_map(|x| json_type_error(x, GoType::Str, cx));
        }
        (GoType::Struct(s), "object") => {
            let m = v.as_map().map(MapRef::snapshot).unwrap_or_default();
            let outer = cx.strukt.replace(s.name);
            let mut first = None;
            for (key, x) in &m {
                // Go matches a field by exact name, else case-insensitively.
                let field = s
                    .fields
                    .iter()
                    .find(|(n, _)| n == key)
                    .or_else(|| s.fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(key)));
                let Some((name, fty)) = field else { continue };
                cx.fields.push(name);
                let e = json_type_error(x, *fty, cx);
                cx.fields.pop();
                if first.is_none() {
                    first = e;
                }
            }
            cx.strukt = outer;
            return first;
        }
        _ => false,
    };
    if ok {
        return None;
    }
    let into = match cx.strukt {
        Some(st) => format!("Go struct field {st}.{}", cx.fields.join(".")),
        None => "Go value".to_string(),
    };
    Some(format!(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {kind} into {into} of type {}",
        ty.name()
    ))
}

/// Parse `Chart.yaml` into [`Metadata`].
pub fn parse_metadata(data: &[u8]) -> Result<Metadata, LoadError> {
    let v = parse_yaml_file("Chart.yaml", data)?;
    let mut cx = JsonContext {
        strukt: None,
        fields: Vec::new(),
    };
    if let Some(message) = json_type_error(&v, GoType::Struct(&METADATA), &mut cx) {
        return Err(LoadError::Yaml {
            file: "Chart.yaml".into(),
            message,
            line: None,
        });
    }
    let m = v.as_map().map(MapRef::snapshot).unwrap_or_default();
    let s = |k: &str| string_field(m.get(k));
    Ok(Metadata {
        name: s("name"),
        home: s("home"),
        sources: string_list(m.get("sources")),
        version: s("version"),
        description: s("description"),
        keywords: string_list(m.get("keywords")),
        maintainers: m
            .get("maintainers")
            .and_then(Value::as_list)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_map)
                    .map(MapRef::snapshot)
                    .map(|x| Maintainer {
                        name: string_field(x.get("name")),
                        email: string_field(x.get("email")),
                        url: string_field(x.get("url")),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        icon: s("icon"),
        api_version: s("apiVersion"),
        condition: s("condition"),
        tags: s("tags"),
        app_version: s("appVersion"),
        deprecated: matches!(m.get("deprecated"), Some(Value::Bool(true))),
        annotations: m
            .get("annotations")
            .and_then(Value::as_map)
            .map(|a| {
                a.read()
                    .iter()
                    .map(|(k, v)| (k.clone(), string_field(Some(v))))
                    .collect()
            })
            .unwrap_or_default(),
        kube_version: s("kubeVersion"),
        dependencies: dependencies_from(m.get("dependencies")),
        chart_type: s("type"),
    })
}

/// Helm's `Metadata.Validate`.
fn validate(md: &Metadata) -> Result<(), LoadError> {
    let v = |s: String| Err(LoadError::Validation(s));
    if md.api_version.is_empty() {
        return v("chart.metadata.apiVersion is required".into());
    }
    if md.name.is_empty() {
        return v("chart.metadata.name is required".into());
    }
    if md.name.contains('/') || md.name.contains('\\') || md.name == "." || md.name == ".." {
        return v(format!("chart.metadata.name {:?} is invalid", md.name));
    }
    if md.version.is_empty() {
        return v("chart.metadata.version is required".into());
    }
    if crate::semver::parse_version(&md.version).is_none() {
        return v(format!(
            "chart.metadata.version {:?} is invalid",
            md.version
        ));
    }
    if !(md.chart_type.is_empty() || md.chart_type == "application" || md.chart_type == "library") {
        return v("chart.metadata.type must be application or library".into());
    }
    let mut seen = std::collections::HashSet::new();
    for d in &md.dependencies {
        if d.name.is_empty() {
            return v("dependencies must have a name".into());
        }
        if !d.alias.is_empty()
            && !d
                .alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return v(format!(
                "dependency {:?} has disallowed characters in the alias",
                d.name
            ));
        }
        let key = if d.alias.is_empty() {
            &d.name
        } else {
            &d.alias
        };
        if !seen.insert(key.clone()) {
            return v(format!(
                "more than one dependency with name or alias {key:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, data: &str) -> File {
        File {
            name: name.into(),
            data: data.as_bytes().into(),
        }
    }

    #[test]
    fn loads_files_into_parts() {
        let c = load_files(
            vec![
                f(
                    "Chart.yaml",
                    "apiVersion: v2\nname: a\nversion: 1.0.0\nappVersion: 1.10\n",
                ),
                f("values.yaml", "x: 1\n"),
                f("templates/cm.yaml", "k: v"),
                f("crds/crd.yaml", "kind: CustomResourceDefinition"),
                f("charts/sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"),
                f("charts/sub/templates/x.yaml", "y"),
                f("charts/_skip/Chart.yaml", "bad"),
            ],
            0,
        )
        .unwrap();
        assert_eq!(c.name(), "a");
        // sigs.k8s.io/yaml reads a float into a string field with 32-bit %g.
        assert_eq!(c.metadata.app_version, "1.1");
        assert_eq!(c.templates.len(), 1);
        assert_eq!(c.crd_files().count(), 1);
        assert_eq!(c.dependencies.len(), 1);
        assert_eq!(c.dependencies[0].metadata.api_version, "v1");
        assert_eq!(c.dependencies[0].templates[0].name, "templates/x.yaml");
    }

    #[test]
    fn validation_errors_match_helm() {
        let e =
            load_files(vec![f("Chart.yaml", "apiVersion: v2\nversion: 1.0.0\n")], 0).unwrap_err();
        assert_eq!(e.to_string(), "validation: chart.metadata.name is required");
        let e = load_files(
            vec![f("Chart.yaml", "apiVersion: v2\nname: x\nversion: abc\n")],
            0,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "validation: chart.metadata.version \"abc\" is invalid"
        );
        let e = load_files(vec![f("values.yaml", "a: 1")], 0).unwrap_err();
        assert_eq!(e.to_string(), "Chart.yaml file is missing");
    }

    #[test]
    fn symlink_escaping_the_chart_is_an_error() {
        let dir = std::env::temp_dir().join(format!("helm-symlink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: s\nversion: 1.0.0\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.join("templates/leak.yaml")).unwrap();
        let e = load_dir(&dir).unwrap_err();
        assert!(
            matches!(e, LoadError::SymlinkEscape(ref p) if p == "templates/leak.yaml"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
