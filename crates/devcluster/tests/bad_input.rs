//! Bad input never crashes the server or changes state: malformed bodies, wrong shapes,
//! odd paths and methods all get a 4xx Kubernetes `Status`, and the server keeps serving.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_status_errors() {
    let c = start().await;
    let cm = "/api/v1/namespaces/default/configmaps";
    post(
        &c,
        cm,
        &json!({"metadata": {"name": "keep"}, "data": {"a": "1"}}),
    )
    .await;
    let (_, before) = get_json(&c, &format!("{cm}/keep")).await;
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let bodies: Vec<(&str, Vec<u8>, &str)> = vec![
        ("POST", b"".to_vec(), "application/json"),
        ("POST", b"null".to_vec(), "application/json"),
        ("POST", b"[]".to_vec(), "application/json"),
        ("POST", b"123".to_vec(), "application/json"),
        ("POST", b"\"s\"".to_vec(), "application/json"),
        ("POST", br#"{"metadata":"x"}"#.to_vec(), "application/json"),
        (
            "POST",
            br#"{"metadata":{"name":5}}"#.to_vec(),
            "application/json",
        ),
        (
            "POST",
            br#"{"metadata":{"name":"l","labels":[1]}}"#.to_vec(),
            "application/json",
        ),
        (
            "POST",
            br#"{"metadata":{"name":"l2","labels":{"a":"b c"}}}"#.to_vec(),
            "application/json",
        ),
        (
            "POST",
            br#"{"metadata":{"name":"d"},"data":{"k":1}}"#.to_vec(),
            "application/json",
        ),
        ("POST", deep.into_bytes(), "application/json"),
        ("POST", vec![0xff, 0xfe, 0x00], "application/json"),
        ("POST", b"a: [b\n c: }".to_vec(), "application/yaml"),
        (
            "POST",
            b"k8s\0garbage".to_vec(),
            "application/vnd.kubernetes.protobuf",
        ),
        ("POST", b"{}".to_vec(), "application/cbor"),
        (
            "PUT",
            br#"{"metadata":{"name":"other"}}"#.to_vec(),
            "application/json",
        ),
        (
            "PUT",
            br#"{"metadata":{"name":"keep","resourceVersion":"1"},"data":{"a":"2"}}"#.to_vec(),
            "application/json",
        ),
        (
            "PUT",
            br#"{"metadata":{"name":"keep"},"data":"notamap"}"#.to_vec(),
            "application/json",
        ),
        (
            "PATCH",
            br#"{"op":"replace"}"#.to_vec(),
            "application/json-patch+json",
        ),
        (
            "PATCH",
            br#"[{"op":"remove","path":"/nope/deeper"}]"#.to_vec(),
            "application/json-patch+json",
        ),
        (
            "PATCH",
            br#"[1,2]"#.to_vec(),
            "application/merge-patch+json",
        ),
        (
            "PATCH",
            br#"{"metadata":"x"}"#.to_vec(),
            "application/merge-patch+json",
        ),
        (
            "PATCH",
            br#"{"data":{"a":2}}"#.to_vec(),
            "application/strategic-merge-patch+json",
        ),
        (
            "PATCH",
            b"{not yaml: [".to_vec(),
            "application/apply-patch+yaml",
        ),
        (
            "PATCH",
            br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"keep"}}"#.to_vec(),
            "application/apply-patch+yaml",
        ),
        ("DELETE", b"{bad".to_vec(), "application/json"),
        (
            "DELETE",
            br#"{"propagationPolicy":"Sideways"}"#.to_vec(),
            "application/json",
        ),
    ];
    for (method, body, ct) in bodies {
        let path = if method == "POST" {
            cm.to_string()
        } else {
            format!("{cm}/keep?fieldManager=t")
        };
        let (code, bytes, _) = raw_bytes(&c, method, &path, Some(&body), ct).await;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(
            (400..500).contains(&code),
            "{method} {ct} {:?} -> {code} {v}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(v["kind"], "Status", "{method} {ct}: {v}");
        assert_eq!(v["code"].as_u64(), Some(u64::from(code)), "{v}");
        assert_eq!(v["status"], "Failure");
    }
    let (_, after) = get_json(&c, &format!("{cm}/keep")).await;
    assert_eq!(before, after, "failed writes changed nothing");

    for path in [
        "/api/v2/pods",
        "/apis/apps",
        "/apis/apps/v1/namespaces",
        "/api/v1/namespaces/default/pods/x/log",
        "/api/v1/namespaces/default/configmaps/keep/status",
        "/api/v1/namespaces/default/configmaps/a/b/c/d",
        "/openapi/v3/apis/nope/v1",
    ] {
        let (code, v) = get_json(&c, path).await;
        assert!(
            (400..500).contains(&code) || path == "/apis/apps",
            "{path} -> {code} {v}"
        );
    }
    let (code, _) = raw(
        &c,
        "PUT",
        "/api/v1/namespaces/default/configmaps",
        Some(b"{}"),
        "application/json",
    )
    .await;
    assert_eq!(code, 405);
    let long = "a".repeat(300);
    let (code, v) = post(&c, cm, &json!({"metadata": {"name": long}})).await;
    assert_eq!((code, v["reason"].clone()), (422, json!("Invalid")));
    let (code, _) = get_json(&c, "/readyz").await;
    assert_eq!(code, 200, "still serving");
}
