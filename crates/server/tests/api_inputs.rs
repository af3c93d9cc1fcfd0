//! Whatever a client sends the API (query strings, names in paths, request bodies), it answers
//! with a 2xx or a 4xx carrying a JSON error: never a panic, never a 500. Driven through the
//! router in-process over a model of a few Applications (no cluster behind: an action that gets
//! past validation answers 502 from the unreachable Kubernetes API, which is allowed there only).

use std::sync::Arc;

use axum::body::Body;
use http::Request;
use proptest::prelude::*;
use server::api::ApiState;
use server::api::model::Model;
use server::auth::Auth;
use tower::ServiceExt;

fn state(rt: &tokio::runtime::Runtime) -> ApiState {
    // The kube client spawns its buffer task on the runtime.
    let _in_runtime = rt.enter();
    let model = Model::new();
    for (env, svc, automated) in [("feature-a", "api", true), ("", "vault", false)] {
        let name = if env.is_empty() {
            svc.to_string()
        } else {
            format!("{env}-{svc}")
        };
        let mut spec = serde_json::json!({"project": "shop",
            "source": {"repoURL": "file:///git/x.git", "path": "charts", "targetRevision": "main"},
            "destination": {"namespace": "x"}});
        if automated {
            spec["syncPolicy"] = serde_json::json!({"automated": {}});
        }
        let app: controller::Application = serde_json::from_value(serde_json::json!({
            "apiVersion": "trellis.dev/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "trellis",
                         "labels": {"trellis.dev/environment": env, "trellis.dev/service": svc}},
            "spec": spec,
            "status": {"history": [{"id": 0, "revision": "a".repeat(40), "deployedAt": "2026-12-01T10:00:00Z"}]}
        }))
        .expect("an Application");
        model.apply_app(Arc::new(app));
    }
    model.set_synced();
    let client = kube::Client::try_from(kube::Config::new(
        "http://127.0.0.1:9".parse().expect("url"),
    ))
    .expect("client");
    let auth = Auth::new("t admin\nr readonly", "test", false, None).expect("auth");
    ApiState::with_model(client, "trellis", auth, None, model)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Send one request; return the status and check a 4xx has a JSON `error`.
fn send(
    rt: &tokio::runtime::Runtime,
    st: &ApiState,
    method: &str,
    uri: &str,
    body: Vec<u8>,
) -> u16 {
    let Ok(req) = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", "Bearer t")
        .header("content-type", "application/json")
        .body(Body::from(body))
    else {
        return 0; // not a request a client could send
    };
    rt.block_on(async {
        let resp = server::api::routes(st.clone())
            .oneshot(req)
            .await
            .expect("infallible");
        let code = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .expect("body");
        if (400..500).contains(&code) {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("{method} {uri}: {code} without a JSON body"));
            assert!(
                v["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{method} {uri}: {v}"
            );
        }
        code
    })
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_list_query_is_answered_200_or_400(
        keys in proptest::collection::vec(prop_oneof![
            Just("environment".to_string()), Just("project".to_string()), Just("health".to_string()),
            Just("sync".to_string()), Just("search".to_string()), Just("limit".to_string()),
            Just("continue".to_string()), "[a-z]{1,8}"], 0..5),
        values in proptest::collection::vec(any::<String>(), 5),
    ) {
        let rt = runtime();
        let st = state(&rt);
        let q: Vec<String> = keys.iter().zip(&values).map(|(k, v)| format!("{k}={}", pct(v))).collect();
        let code = send(&rt, &st, "GET", &format!("/api/v1/applications?{}", q.join("&")), vec![]);
        prop_assert!(code == 200 || code == 400 || code == 0, "status {code}");
    }

    #[test]
    fn any_name_is_answered_200_400_or_404(name in any::<String>(), sub in prop_oneof![
        Just(""), Just("/history"), Just("/events"), Just("/nope")]) {
        let rt = runtime();
        let st = state(&rt);
        for base in ["/api/v1/applications/", "/api/v1/environments/"] {
            let code = send(&rt, &st, "GET", &format!("{base}{}{sub}", pct(&name)), vec![]);
            prop_assert!(matches!(code, 0 | 200 | 400 | 404 | 405 | 502), "{base}{name:?}{sub}: {code}");
        }
    }

    #[test]
    fn any_action_body_is_refused_cleanly(
        body in prop_oneof![
            any::<Vec<u8>>(),
            any::<String>().prop_map(String::into_bytes),
            (any::<bool>(), proptest::option::of(any::<String>()), any::<i64>()).prop_map(|(p, r, id)| {
                serde_json::json!({"prune": p, "revision": r, "id": id}).to_string().into_bytes()
            }),
        ],
        action in prop_oneof![Just("sync"), Just("rollback"), Just("refresh"), Just("terminate")],
        app in prop_oneof![Just("feature-a-api"), Just("vault")],
    ) {
        let rt = runtime();
        let st = state(&rt);
        let code = send(&rt, &st, "POST", &format!("/api/v1/applications/{app}/{action}"), body);
        // 502: it was valid and went to the (absent) Kubernetes API.
        prop_assert!(matches!(code, 400 | 404 | 409 | 413 | 415 | 422 | 502), "{action} {app}: {code}");
    }
}

#[test]
fn bytes_that_are_not_utf8_in_a_path_or_query_get_a_json_400() {
    let rt = runtime();
    let st = state(&rt);
    for uri in [
        "/api/v1/applications/%FF",
        "/api/v1/environments/%C3",
        "/api/v1/applications/vault/logs?pod=%FE",
    ] {
        let code = send(&rt, &st, "GET", uri, vec![]);
        assert_eq!(code, 400, "{uri}");
    }
    // A method a route does not take.
    assert_eq!(
        send(&rt, &st, "PUT", "/api/v1/applications/vault", vec![]),
        405
    );
}
