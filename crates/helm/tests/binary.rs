//! Go strings are bytes: any byte string read from a chart file survives `.Files.Get`,
//! `.Files.GetBytes | toString`, `include`, `b64enc | b64dec` and the hashes unchanged (the
//! oracle cases under `testdata/template-cases/binary/` compare the same paths with real Helm
//! on fixed files; this property test throws arbitrary bytes at them).

use std::sync::Arc;

use base64::Engine as _;
use helm::chart::{File, load_files};
use helm::{Engine, RenderOptions};
use proptest::prelude::*;
use sha2::Digest;

const TEMPLATE: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: bin
data:
  get: {{ .Files.Get "files/x.bin" | b64enc | quote }}
  roundtrip: {{ .Files.Get "files/x.bin" | b64enc | b64dec | b64enc | quote }}
  b32: {{ .Files.Get "files/x.bin" | b32enc | b32dec | b64enc | quote }}
  bytes: {{ .Files.GetBytes "files/x.bin" | toString | b64enc | quote }}
  include: {{ include "raw" . | b64enc | quote }}
  glob: {{ index (.Files.Glob "files/*") "files/x.bin" | toString | b64enc | quote }}
  dict: {{ (dict "v" (.Files.Get "files/x.bin")).v | b64enc | quote }}
  len: {{ .Files.Get "files/x.bin" | len | quote }}
  sha256: {{ .Files.Get "files/x.bin" | sha256sum | quote }}
"#;

fn render(bytes: &[u8]) -> Vec<(String, String)> {
    let file = |name: &str, data: &[u8]| File {
        name: name.into(),
        data: Arc::from(data),
    };
    let chart = load_files(
        vec![
            file("Chart.yaml", b"apiVersion: v2\nname: bin\nversion: 0.1.0\n"),
            file("files/x.bin", bytes),
            file(
                "templates/_raw.tpl",
                br#"{{ define "raw" }}{{ .Files.Get "files/x.bin" }}{{ end }}"#,
            ),
            file("templates/secret.yaml", TEMPLATE.as_bytes()),
        ],
        0,
    )
    .expect("chart loads");
    let opts = RenderOptions {
        release_name: "rel".into(),
        namespace: "ns".into(),
        ..RenderOptions::default()
    };
    let rendered = Engine::uncached()
        .render(&chart, &gotemplate::Map::new(), &opts)
        .expect("renders");
    let content = &rendered.manifests[0].content;
    content
        .lines()
        .skip_while(|l| *l != "data:")
        .skip(1)
        .map(|l| {
            let (k, v) = l.trim().split_once(": ").expect("key: value");
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

fn check(bytes: &[u8]) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let sha: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for (key, value) in render(bytes) {
        match key.as_str() {
            "len" => assert_eq!(value, bytes.len().to_string()),
            "sha256" => assert_eq!(value, sha),
            _ => assert_eq!(
                b64.decode(&value).expect("base64"),
                bytes,
                "{key} changed the bytes"
            ),
        }
    }
}

#[test]
fn edge_bytes_survive() {
    check(b"");
    check(&(0x80..=0xff).collect::<Vec<u8>>());
    check(b"\x00nul\x00");
    // UTF-8 encodings of lone surrogates, and multi-byte text cut in the middle.
    check(b"\xed\xa0\x80\xed\xbf\xbf");
    check(&"h\u{e9}llo \u{65e5}\u{672c}".as_bytes()[..9]);
    check("plain text \u{2713}".as_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_bytes_survive_files_get_and_b64(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check(&bytes);
    }

    #[test]
    fn any_text_with_cuts_survives(text in "\\PC{0,40}", cut in 0usize..200) {
        let bytes = text.as_bytes();
        let cut = cut.min(bytes.len());
        check(&bytes[..cut]);
    }
}
