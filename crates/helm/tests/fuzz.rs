//! Property and fuzz tests: hostile input to the `--set` parser, YAML reader and
//! chart loader must give `Ok` or `Err`, never a panic or a hang; `toYaml` output must
//! read back as the same value; oversized files are refused.

use std::sync::Arc;

use gotemplate::{Map, Value};
use helm::chart::{File, LoadError, load_dir, load_files, read_archive_files};
use proptest::prelude::*;

fn set_syntax() -> impl Strategy<Value = String> {
    // Biased toward the parser's special characters.
    proptest::collection::vec(
        prop_oneof![
            Just("a".to_string()),
            Just(".".to_string()),
            Just("=".to_string()),
            Just(",".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("{".to_string()),
            Just("}".to_string()),
            Just("\\".to_string()),
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("99999999999999999999".to_string()),
            Just("null".to_string()),
            "[ -~]{0,3}",
        ],
        0..24,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn set_parsers_never_panic(s in set_syntax()) {
        let mut m = Map::new();
        let _ = helm::strvals::parse_into(&s, &mut m);
        let _ = helm::strvals::parse_into_string(&s, &mut m);
        let _ = helm::strvals::parse_json(&s, &mut m);
        let _ = helm::strvals::parse_literal_into(&s, &mut m);
        let read = |p: &str| -> Result<Vec<u8>, String> { Ok(p.as_bytes().to_vec()) };
        let _ = helm::strvals::parse_into_file(&s, &mut m, &read);
    }

    #[test]
    fn yaml_reader_never_panics(s in "[ -~\n\t]{0,200}") {
        let _ = helm::yaml::parse_all(&s);
        let _ = helm::manifest::parse_head(&s);
    }

    #[test]
    fn hostile_chart_yaml_is_ok_or_err(meta in "[ -~\n]{0,300}", values in "[ -~\n]{0,200}") {
        let files = vec![
            File { name: "Chart.yaml".into(), data: Arc::from(meta.as_bytes()) },
            File { name: "values.yaml".into(), data: Arc::from(values.as_bytes()) },
            File { name: "templates/x.yaml".into(), data: Arc::from(&b"k: {{ .Values.a }}"[..]) },
        ];
        if let Ok(chart) = load_files(files, 0) {
            let engine = helm::Engine::new();
            let _ = engine.render(&chart, &Map::new(), &helm::RenderOptions::default());
        }
    }

    #[test]
    fn archives_of_garbage_are_errors(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut gz = vec![0x1f, 0x8b];
        gz.extend_from_slice(&data);
        let _ = read_archive_files(&gz);
        // Anything that is not gzip is refused up front.
        prop_assert!(read_archive_files(&data).is_err() || data.starts_with(&[0x1f, 0x8b]));
    }

    #[test]
    fn to_yaml_reads_back_as_the_same_strings(keys in proptest::collection::vec("[ -~\u{a0}-\u{ff}\n\t]{0,40}", 1..6)) {
        // go-yaml (and so Helm) writes a `<<` key plain, which reads back as a merge key:
        // Helm cannot round-trip it either (checked with helm template), so it is left out.
        prop_assume!(keys.iter().all(|k| k != "<<"));
        let mut m = Map::new();
        for (i, k) in keys.iter().enumerate() {
            m.insert(format!("k{i}"), Value::str(k.as_str()));
            m.insert(k.clone(), Value::str(format!("v{i}")));
        }
        let v = Value::map(m.clone());
        // `marshal`, not `toYaml`: Helm's toYaml trims the final newline, which a
        // trailing `|+` block needs (Helm loses it too).
        let text = helm::yaml_emit::marshal(&v).expect("strings always marshal");
        let back = helm::yaml::parse_map(&text).expect("toYaml output is YAML");
        prop_assert_eq!(back.len(), m.len());
        for (k, val) in &m {
            prop_assert_eq!(back.get(k).and_then(Value::as_str), val.as_str(), "key {:?} in {:?}", k, text);
        }
    }
}

#[test]
fn huge_file_in_chart_dir_is_refused() {
    let dir = std::env::temp_dir().join(format!("helm-huge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("templates")).expect("temp dir");
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: h\nversion: 1.0.0\n",
    )
    .expect("write");
    let f = std::fs::File::create(dir.join("templates/big.yaml")).expect("create");
    f.set_len(helm::chart::MAX_FILE_SIZE + 1)
        .expect("sparse file");
    let e = load_dir(&dir).expect_err("too large");
    assert!(
        matches!(e, LoadError::FileTooLarge(ref n) if n == "big.yaml"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn deeply_nested_yaml_is_an_error_not_a_stack_overflow() {
    let text = "[".repeat(100_000);
    assert!(helm::yaml::parse(&text).is_err());
}
