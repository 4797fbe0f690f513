//! Each actuator against a local server that follows its ACTUATORS.md contract (Google and
//! Kubernetes fakes, a webhook receiver) or against the real Redis: what is sent, what is
//! retried and what is not, and that the change is really in place afterwards.

use std::time::Duration;

use prescale::scaling::actuators::{self, Context, Note};
use prescale::scaling::targets::{GoogleSettings, KubernetesSettings, Target};
use serde_json::json;

use crate::fakes::google::{FakeGoogle, Fault, PROJECT, REGION};
use crate::fakes::kube::FakeKube;
use crate::fakes::webhook::Receiver;

fn target(toml_text: &str) -> Target {
    let t: Target = toml::from_str(toml_text).expect("target parses");
    t.validate().expect("target is valid");
    t
}

fn ctx(google: &FakeGoogle) -> Context {
    let g = GoogleSettings {
        metadata_endpoint: Some(google.url.clone()),
        access_token: None,
    };
    Context::new(&g, &KubernetesSettings::default(), |_| None)
        .unwrap()
        .with_speedup(200)
}

fn note() -> Note {
    Note {
        series: "matching".into(),
        hour: prescale::domain::Hour::from_unix(1_785_207_600).unwrap(),
        expected_rps: 240.0,
        lower_rps: 200.0,
        upper_rps: 280.0,
        confidence: 0.9,
        model_version: Some(3),
        cause: "forecast".into(),
    }
}

fn run_target(google: &FakeGoogle, extra: &str) -> Target {
    target(&format!(
        r#"name = "matching"
kind = "cloud_run"
series = "matching"
project = "{PROJECT}"
location = "{REGION}"
service = "matching"
endpoint = "{}"
apply = true
requests_per_instance_per_second = 40
min = 2
max = 500
{extra}"#,
        google.url
    ))
}

#[tokio::test]
async fn cloud_run_patches_only_the_service_minimum_under_a_mask_and_waits_for_the_operation() {
    let g = FakeGoogle::start().await;
    g.add_service("matching", 2, Some(80));
    let t = run_target(&g, "");
    let c = ctx(&g);
    let before = actuators::read(&t, &c).await.unwrap();
    assert_eq!(
        before,
        json!({"minInstanceCount": 2, "maxInstanceCount": 80})
    );
    let want = actuators::desired(&t, 6, &before);
    let (w, r) = actuators::write(&t, &c, &want, &note()).await;
    r.unwrap();
    assert!(!w.already);
    let patches = g.requests("PATCH", "/services/matching");
    assert_eq!(patches.len(), 1);
    let p = &patches[0];
    assert_eq!(
        p.path,
        format!("/v2/projects/{PROJECT}/locations/{REGION}/services/matching")
    );
    assert_eq!(p.query, "updateMask=scaling.minInstanceCount");
    assert_eq!(
        p.body,
        json!({"scaling": {"minInstanceCount": 6}}),
        "a sparse body: no template, no revision"
    );
    assert!(p.headers["content-type"].starts_with("application/json"));
    assert_eq!(p.headers["authorization"], "Bearer <redacted>");
    // The token came from the metadata server, with its header.
    let md = g.requests(
        "GET",
        "/computeMetadata/v1/instance/service-accounts/default/token",
    );
    assert_eq!(md.len(), 1, "one token, cached");
    assert!(
        md[0]
            .query
            .contains("scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform")
    );
    assert_eq!(md[0].headers["metadata-flavor"], "Google");
    // The operation was polled to done, and the service converged with the new minimum.
    assert!(!g.requests("GET", "/operations/").is_empty());
    let svc = g.lock().services[&FakeGoogle::service_name("matching")].clone();
    assert_eq!(svc["scaling"]["minInstanceCount"], 6);
    assert_eq!(svc["observedGeneration"], svc["generation"]);
    assert_eq!(svc["reconciling"], false);
    assert_eq!(
        svc["template"]["revision"], "matching-00042-vok",
        "no new revision"
    );
}

#[tokio::test]
async fn cloud_run_retries_429_and_503_honouring_retry_info_but_not_400_or_403() {
    let g = FakeGoogle::start().await;
    g.add_service("matching", 2, Some(80));
    let t = run_target(&g, "");
    let c = ctx(&g);
    g.fault(
        "PATCH run",
        &[
            Fault::Status(429, "RESOURCE_EXHAUSTED", None, Some("1s")),
            Fault::Status(503, "UNAVAILABLE", Some(1), None),
        ],
    );
    let started = std::time::Instant::now();
    let (_, r) = actuators::write(&t, &c, &json!({"minInstanceCount": 7}), &note()).await;
    r.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the 1 s RetryInfo and Retry-After were waited out"
    );
    assert_eq!(g.requests("PATCH", "/services/matching").len(), 3);
    // Before each retry the service was read: a retry is skipped when the change is in place.
    assert!(g.requests("GET", "/services/matching").len() >= 2);

    // ABORTED (a concurrent change) is retried after a fresh read; a slow answer is waited for.
    g.fault(
        "PATCH run",
        &[Fault::Status(409, "ABORTED", None, None), Fault::Slow(300)],
    );
    let n = g.requests("PATCH", "/services/matching").len();
    let started = std::time::Instant::now();
    let (_, r) = actuators::write(&t, &c, &json!({"minInstanceCount": 8}), &note()).await;
    r.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(g.requests("PATCH", "/services/matching").len(), n + 2);
    // ALREADY_EXISTS is final.
    g.fault(
        "PATCH run",
        &[Fault::Status(409, "ALREADY_EXISTS", None, None)],
    );
    let (_, r) = actuators::write(&t, &c, &json!({"minInstanceCount": 3}), &note()).await;
    assert_eq!(r.unwrap_err().status(), Some("ALREADY_EXISTS"));
    assert_eq!(g.requests("PATCH", "/services/matching").len(), n + 3);

    for (http, status) in [
        (400, "INVALID_ARGUMENT"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
    ] {
        let n = g.requests("PATCH", "/services/matching").len();
        g.fault("PATCH run", &[Fault::Status(http, status, None, None)]);
        let (_, r) = actuators::write(&t, &c, &json!({"minInstanceCount": 9}), &note()).await;
        let e = r.unwrap_err();
        assert_eq!(e.http_status(), Some(http));
        assert_eq!(e.status(), Some(status));
        assert_eq!(
            g.requests("PATCH", "/services/matching").len(),
            n + 1,
            "{status} is not retried"
        );
    }
}

#[tokio::test]
async fn cloud_run_raises_the_ceiling_only_past_it_and_reports_quota_rejections() {
    let g = FakeGoogle::start().await;
    g.add_service("matching", 2, Some(80));
    let t = run_target(&g, "raise_max = true");
    let c = ctx(&g);
    let cur = actuators::read(&t, &c).await.unwrap();
    assert_eq!(
        actuators::desired(&t, 50, &cur),
        json!({"minInstanceCount": 50})
    );
    let want = actuators::desired(&t, 120, &cur);
    assert_eq!(
        want,
        json!({"minInstanceCount": 120, "maxInstanceCount": 120})
    );
    let (_, r) = actuators::write(&t, &c, &want, &note()).await;
    r.unwrap();
    let p = g.requests("PATCH", "/services/matching").pop().unwrap();
    assert_eq!(
        p.query,
        "updateMask=scaling.maxInstanceCount,scaling.minInstanceCount"
    );
    assert_eq!(
        p.body,
        json!({"scaling": {"minInstanceCount": 120, "maxInstanceCount": 120}})
    );
    // The regional quota's 400 is final and its message kept for the operator.
    g.lock().quota_max = 150;
    let (_, r) = actuators::write(
        &t,
        &c,
        &json!({"minInstanceCount": 200, "maxInstanceCount": 200}),
        &note(),
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.status(), Some("INVALID_ARGUMENT"));
    assert!(
        e.to_string()
            .contains("Max instances must be set to 150 or fewer"),
        "{e}"
    );
}

#[tokio::test]
async fn an_expired_or_refused_token_is_refreshed_once() {
    let g = FakeGoogle::start().await;
    g.add_service("matching", 2, None);
    // Tokens that live 5 s are never cached (fewer than 5 minutes left).
    g.lock().token_lifetime = 5;
    let t = run_target(&g, "");
    let c = ctx(&g);
    actuators::read(&t, &c).await.unwrap();
    actuators::read(&t, &c).await.unwrap();
    assert_eq!(g.requests("GET", "/token").len(), 2);
    // A 401 from the API: a fresh token, one retry.
    g.fault(
        "GET run",
        &[Fault::Status(401, "UNAUTHENTICATED", None, None)],
    );
    actuators::read(&t, &c).await.unwrap();
    assert_eq!(g.requests("GET", "/token").len(), 4);
    // Two 401s in a row: the second is final.
    g.fault(
        "GET run",
        &[
            Fault::Status(401, "UNAUTHENTICATED", None, None),
            Fault::Status(401, "UNAUTHENTICATED", None, None),
        ],
    );
    assert_eq!(
        actuators::read(&t, &c).await.unwrap_err().http_status(),
        Some(401)
    );
    // Without the Metadata-Flavor header the metadata server refuses (anti-SSRF).
    let plain = actuators::http_client()
        .unwrap()
        .get(format!("{}/computeMetadata/v1/project/project-id", g.url))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 403);
}

#[tokio::test]
async fn a_failed_operation_is_an_error_and_changes_nothing_it_should_not() {
    let g = FakeGoogle::start().await;
    g.add_service("matching", 2, None);
    g.lock().fail_ops = Some((
        9,
        "Revision 'matching-00043-zex' is not ready and cannot serve traffic.".into(),
    ));
    let t = run_target(&g, "");
    let (_, r) = actuators::write(&t, &ctx(&g), &json!({"minInstanceCount": 6}), &note()).await;
    let e = r.unwrap_err();
    assert!(
        matches!(e, actuators::ActuatorError::Operation { code: 9, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn cloud_functions_wait_out_an_operation_in_flight_instead_of_resending() {
    let g = FakeGoogle::start().await;
    g.add_function("fare-quote", 0, 60);
    g.lock().op_polls = 4;
    let t = target(&format!(
        r#"name = "fare"
kind = "cloud_functions"
series = "fares"
project = "{PROJECT}"
location = "{REGION}"
function = "fare-quote"
endpoint = "{}"
apply = true
requests_per_instance_per_second = 5
max = 60"#,
        g.url
    ));
    let c = ctx(&g);
    assert_eq!(
        actuators::read(&t, &c).await.unwrap(),
        json!({"minInstanceCount": 0, "maxInstanceCount": 60})
    );
    let want = json!({"minInstanceCount": 3});
    // Two writers at once: the second gets 409 ABORTED "unable to queue the operation", waits
    // for ACTIVE, sees the value in place and does not send again.
    let n = note();
    let (a, b) = tokio::join!(actuators::write(&t, &c, &want, &n), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        actuators::write(&t, &c, &want, &n).await
    });
    a.1.unwrap();
    b.1.unwrap();
    assert!(b.0.already, "the second writer found the change in place");
    let patches = g.requests("PATCH", "/functions/fare-quote");
    assert_eq!(patches.len(), 2, "one accepted, one ABORTED, none resent");
    assert_eq!(
        patches[0].query,
        "updateMask=serviceConfig.minInstanceCount"
    );
    assert_eq!(
        patches[0].body,
        json!({"serviceConfig": {"minInstanceCount": 3}})
    );
    let f = g.lock().functions.values().next().unwrap().clone();
    assert_eq!(
        (
            f["state"].as_str(),
            f["serviceConfig"]["minInstanceCount"].as_i64()
        ),
        (Some("ACTIVE"), Some(3))
    );
}

#[tokio::test]
async fn memorystore_sends_one_field_and_retries_when_the_instance_is_busy() {
    let g = FakeGoogle::start().await;
    g.add_instance("cache-main", 5);
    let t = target(&format!(
        r#"name = "cache"
kind = "memorystore"
series = "trips"
project = "{PROJECT}"
location = "{REGION}"
instance = "cache-main"
endpoint = "{}"
apply = true
requests_per_gb_per_second = 100
min = 1
max = 50"#,
        g.url
    ));
    let c = ctx(&g);
    assert_eq!(
        actuators::read(&t, &c).await.unwrap(),
        json!({"memorySizeGb": 5})
    );
    g.fault(
        "PATCH redis",
        &[Fault::Status(400, "FAILED_PRECONDITION", None, None)],
    );
    let (_, r) = actuators::write(&t, &c, &json!({"memorySizeGb": 10}), &note()).await;
    r.unwrap();
    let p = g.requests("PATCH", "/instances/cache-main");
    assert_eq!(p.len(), 2, "the busy answer was retried");
    assert_eq!(p[1].query, "updateMask=memorySizeGb");
    assert_eq!(p[1].body, json!({"memorySizeGb": 10}));
    assert_eq!(
        g.lock().instances.values().next().unwrap()["memorySizeGb"],
        10
    );
    // Out of range is final.
    let (_, r) = actuators::write(&t, &c, &json!({"memorySizeGb": 400}), &note()).await;
    assert_eq!(r.unwrap_err().status(), Some("INVALID_ARGUMENT"));
}

#[tokio::test]
async fn cloud_armor_reads_the_rule_and_sends_it_whole_with_the_new_threshold() {
    let g = FakeGoogle::start().await;
    g.add_rule("edge-policy", 1000, 3000);
    let t = target(&format!(
        r#"name = "edge"
kind = "cloud_armor"
series = "trips"
project = "{PROJECT}"
policy = "edge-policy"
priority = 1000
interval_sec = 60
endpoint = "{}"
apply = true
min = 10
max = 10000"#,
        g.url
    ));
    let c = ctx(&g);
    assert_eq!(
        actuators::read(&t, &c).await.unwrap(),
        json!({"count": 3000, "intervalSec": 60})
    );
    let want = actuators::desired(&t, 80, &serde_json::Value::Null);
    assert_eq!(want, json!({"count": 4800, "intervalSec": 60}));
    let (_, r) = actuators::write(&t, &c, &want, &note()).await;
    r.unwrap();
    let p = g.requests("POST", "/patchRule");
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].path,
        format!("/compute/v1/projects/{PROJECT}/global/securityPolicies/edge-policy/patchRule")
    );
    assert_eq!(p[0].query, "priority=1000");
    assert_eq!(
        p[0].body["match"]["config"]["srcIpRanges"],
        json!(["*"]),
        "the whole rule"
    );
    assert_eq!(p[0].body["rateLimitOptions"]["exceedAction"], "deny(429)");
    assert_eq!(
        p[0].body["rateLimitOptions"]["rateLimitThreshold"]["count"],
        4800
    );
    assert!(
        !g.requests("GET", "/global/operations/").is_empty(),
        "the Compute operation was polled"
    );
    assert_eq!(actuators::read(&t, &c).await.unwrap()["count"], 4800);
}

#[tokio::test]
async fn cache_warmups_publish_a_deduplicable_message_to_pubsub() {
    let g = FakeGoogle::start().await;
    let t = target(&format!(
        r#"name = "warm"
kind = "cache_warmup"
series = "trips"
project = "{PROJECT}"
topic = "cache-warmup"
instance = "projects/{PROJECT}/locations/{REGION}/instances/cache-main"
keyspace = "trips:eta:*"
top_n = 50000
endpoint = "{}"
apply = true
max = 100000"#,
        g.url
    ));
    let (_, r) = actuators::write(&t, &ctx(&g), &json!({}), &note()).await;
    r.unwrap();
    let p = g.requests("POST", ":publish");
    assert_eq!(
        p[0].path,
        format!("/v1/projects/{PROJECT}/topics/cache-warmup:publish")
    );
    let published = g.lock().published.clone();
    assert_eq!(published.len(), 1);
    let data = &published[0]["data"];
    assert_eq!(data["warmupId"], "wu-2026-07-28T03:00Z-matching-warm");
    assert_eq!(published[0]["attributes"]["warmupId"], data["warmupId"]);
    assert_eq!(
        published[0]["attributes"]["type"],
        "prescale.cache.warmup.v1"
    );
    assert_eq!(data["scope"]["keyspace"], "trips:eta:*");
    assert_eq!(data["notBefore"], "2026-07-28T02:50:00Z");
    assert_eq!(data["deadline"], "2026-07-28T02:55:00Z");
}

#[tokio::test]
async fn kubernetes_hpa_and_keda_are_merge_patched_with_retries_on_429_and_503() {
    let k = FakeKube::start().await;
    k.add_hpa("prod", "trips", 2, 60);
    k.add_scaled_object("prod", "realtime", 0, 40);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{}\n", crate::fakes::kube::TOKEN)).unwrap();
    let ks = KubernetesSettings {
        api_server: Some(k.url.clone()),
        token_file: Some(token.clone()),
        ..KubernetesSettings::default()
    };
    let c = Context::new(&GoogleSettings::default(), &ks, |_| None)
        .unwrap()
        .with_speedup(50);
    let hpa = target(
        r#"name = "trips-hpa"
kind = "k8s_hpa"
series = "trips"
namespace = "prod"
resource = "trips"
apply = true
requests_per_instance_per_second = 40
min = 1
max = 100"#,
    );
    let cur = actuators::read(&hpa, &c).await.unwrap();
    assert_eq!(cur, json!({"minReplicas": 2, "maxReplicas": 60}));
    k.lock().patch_faults.extend([429, 503]);
    let (_, r) = actuators::write(&hpa, &c, &actuators::desired(&hpa, 8, &cur), &note()).await;
    r.unwrap();
    let patches: Vec<_> = k
        .lock()
        .requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .cloned()
        .collect();
    assert_eq!(patches.len(), 3, "429 and 503 retried");
    assert!(
        patches
            .iter()
            .all(|p| p.content_type == "application/merge-patch+json"
                && p.path == "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/trips")
    );
    assert_eq!(patches[2].body, json!({"spec": {"minReplicas": 8}}));
    assert_eq!(patches[2].query, "fieldManager=prescale");
    assert_eq!(
        k.lock().objects[&crate::fakes::kube::hpa_path("prod", "trips")]["spec"]["minReplicas"],
        8
    );
    // More than the HPA's max is clamped to it rather than sent and refused with 422.
    assert_eq!(
        actuators::desired(&hpa, 90, &cur),
        json!({"minReplicas": 60})
    );

    let so = target(
        r#"name = "realtime-keda"
kind = "keda"
series = "realtime"
namespace = "prod"
resource = "realtime"
apply = true
requests_per_instance_per_second = 40
max = 100"#,
    );
    let cur = actuators::read(&so, &c).await.unwrap();
    let (_, r) = actuators::write(&so, &c, &actuators::desired(&so, 12, &cur), &note()).await;
    r.unwrap();
    let obj = k.lock().objects[&crate::fakes::kube::so_path("prod", "realtime")].clone();
    assert_eq!(obj["spec"]["minReplicaCount"], 12);
    assert_eq!(
        obj["metadata"]["resourceVersion"], "4",
        "one write since the objects were made"
    );

    // The same through a kubeconfig (its current context's server and token), as kubectl reads it.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: prescale}}\nclusters:\n- name: fake\n  cluster: {{server: \"{}\"}}\nusers:\n- name: prescale\n  user: {{token: {}}}\n",
            k.url,
            crate::fakes::kube::TOKEN
        ),
    )
    .unwrap();
    let from_kubeconfig = KubernetesSettings {
        kubeconfig: Some(kubeconfig),
        ..KubernetesSettings::default()
    };
    let c2 = Context::new(&GoogleSettings::default(), &from_kubeconfig, |_| None).unwrap();
    assert_eq!(actuators::read(&hpa, &c2).await.unwrap()["minReplicas"], 8);

    // A rotated token is re-read: a wrong one is refused with a Status, and not retried forever.
    std::fs::write(&token, "wrong").unwrap();
    let e = actuators::read(&hpa, &c).await.unwrap_err();
    assert_eq!(
        (e.http_status(), e.status()),
        (Some(401), Some("Unauthorized"))
    );
}

#[tokio::test]
async fn webhooks_are_signed_and_retried_with_the_same_delivery_id() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let rx = Receiver::start(secret).await;
    rx.state.lock().unwrap().statuses.extend([503, 429]);
    let t = target(&format!(
        r#"name = "realtime-autoscaler"
kind = "webhook"
series = "realtime"
url = "{}"
secret = "{secret}"
apply = true
requests_per_instance_per_second = 40
max = 80"#,
        rx.url
    ));
    let c = Context::new(
        &GoogleSettings::default(),
        &KubernetesSettings::default(),
        |_| None,
    )
    .unwrap()
    .with_speedup(100);
    let (w, r) = actuators::write(&t, &c, &json!({"minReplicas": 12}), &note()).await;
    r.unwrap();
    assert_eq!(w.http_status, Some(204));
    let d = rx.deliveries();
    assert_eq!(d.len(), 3);
    assert!(d.iter().all(|x| x.id == d[0].id && x.signature_ok), "{d:?}");
    assert!((chrono::Utc::now().timestamp() - d[2].timestamp).abs() < 60);
    assert!(d[0].id.starts_with("msg_"));
    assert_eq!(d[0].body["type"], "prescale.scale.v1");
    assert_eq!(d[0].body["desired"], json!({"minReplicas": 12}));
    assert_eq!(d[0].body["forecast"]["confidence"], 0.9);
    // 422 is a final rejection.
    rx.state.lock().unwrap().statuses.push_back(422);
    let (_, r) = actuators::write(&t, &c, &json!({"minReplicas": 13}), &note()).await;
    assert_eq!(r.unwrap_err().http_status(), Some(422));
    assert_eq!(rx.deliveries().len(), 4);
}

/// The real Redis the suite runs against, or a printed skip (a failure in CI).
pub(crate) async fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let client = redis::Client::open(url.as_str()).ok()?;
    match client.get_multiplexed_async_connection().await {
        Ok(_) => Some(url),
        Err(e) => {
            crate::helpers::skip(&format!("Redis is not reachable at {url}: {e}"));
            None
        }
    }
}

#[tokio::test]
async fn rate_limit_overrides_are_written_to_redis_with_a_ttl_and_a_version_rule() {
    let Some(url) = redis_url().await else { return };
    let route = format!("trips.create-it-{}", std::process::id());
    let t = target(&format!(
        r#"name = "trips-rl"
kind = "rate_limit_redis"
series = "trips"
route = "{route}"
redis_url = "{url}"
apply = true
ttl_minutes = 90
burst_seconds = 2
min = 10
max = 100000"#
    ));
    let c = Context::new(
        &GoogleSettings::default(),
        &KubernetesSettings::default(),
        |_| None,
    )
    .unwrap();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = actuators::rate_limit_redis::override_key(&route);
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .arg(format!("rl:v1:audit:{{{route}}}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        actuators::read(&t, &c).await.unwrap(),
        serde_json::Value::Null,
        "no override yet"
    );

    let want = actuators::desired(&t, 300, &serde_json::Value::Null);
    assert_eq!(want, json!({"rate": 300.0, "burst": 600.0}));
    let (_, r) = actuators::write(&t, &c, &want, &note()).await;
    r.unwrap();
    assert_eq!(actuators::read(&t, &c).await.unwrap(), want, "read back");
    let h: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(h["written_by"], "prescale");
    assert_eq!(h["forecast_id"], "matching@2026-07-28T03:00:00Z");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 89 * 60_000 && pttl <= 90 * 60_000, "{pttl}");
    let audit: i64 = redis::cmd("XLEN")
        .arg(format!("rl:v1:audit:{{{route}}}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(audit, 1);

    // An older version is a no-op (a late retry never overwrites a newer decision).
    let version: i64 = h["version"].parse().unwrap();
    let far = chrono::Utc::now().timestamp_millis() + 60_000;
    assert!(
        !actuators::rate_limit_redis::write_version(&c, &url, &route, 1.0, 1.0, version - 1, far)
            .await
            .unwrap()
    );
    assert_eq!(actuators::read(&t, &c).await.unwrap()["rate"], 300.0);

    // Revert: deleting the override brings the base limit back.
    let (_, r) = actuators::write(&t, &c, &serde_json::Value::Null, &note()).await;
    r.unwrap();
    assert_eq!(
        actuators::read(&t, &c).await.unwrap(),
        serde_json::Value::Null
    );

    // TTL expiry: an override that expires in 300 ms is gone by itself.
    let soon = chrono::Utc::now().timestamp_millis() + 300;
    assert!(
        actuators::rate_limit_redis::write_version(&c, &url, &route, 50.0, 50.0, version + 1, soon)
            .await
            .unwrap()
    );
    assert_eq!(actuators::read(&t, &c).await.unwrap()["rate"], 50.0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        actuators::read(&t, &c).await.unwrap(),
        serde_json::Value::Null,
        "expired"
    );
}

/// The fakes refuse what the real APIs refuse: a test cannot pass on a request Google or the
/// Kubernetes API server would reject.
#[tokio::test]
async fn the_fakes_reject_what_the_real_apis_reject() {
    let g = FakeGoogle::start().await;
    g.add_service("matching", 2, Some(80));
    g.add_instance("cache-main", 5);
    g.add_rule("edge-policy", 1000, 3000);
    let http = actuators::http_client().unwrap();
    let token = http
        .get(format!(
            "{}/computeMetadata/v1/instance/service-accounts/default/token",
            g.url
        ))
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let svc = format!("{}/v2/{}", g.url, FakeGoogle::service_name("matching"));
    let send = |m: reqwest::Method, url: String, body: serde_json::Value| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http
                .request(m, url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (
                status,
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    // No token, or one the metadata server did not issue: 401 UNAUTHENTICATED.
    let r = http
        .get(&svc)
        .bearer_auth("ya29.made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The revision-name echo: GET, edit the template, PATCH it all back.
    let (_, mut full) = send(reqwest::Method::GET, svc.clone(), json!(null)).await;
    full["template"]["maxInstanceRequestConcurrency"] = json!(40);
    let (s, e) = send(
        reqwest::Method::PATCH,
        format!("{svc}?updateMask=scaling.minInstanceCount"),
        full.clone(),
    )
    .await;
    assert_eq!(
        (s, e["error"]["status"].as_str()),
        (409, Some("ALREADY_EXISTS")),
        "{e}"
    );
    // A stale etag (AIP-154) is ABORTED; an unknown mask path is INVALID_ARGUMENT naming update_mask.
    let (s, e) = send(
        reqwest::Method::PATCH,
        format!("{svc}?updateMask=scaling.minInstanceCount"),
        json!({"etag": "\"old\"", "scaling": {"minInstanceCount": 3}}),
    )
    .await;
    assert_eq!((s, e["error"]["status"].as_str()), (409, Some("ABORTED")));
    let (s, e) = send(
        reqwest::Method::PATCH,
        format!("{svc}?updateMask=scaling.minInstances"),
        json!({"scaling": {"minInstances": 3}}),
    )
    .await;
    assert_eq!(
        (
            s,
            e["error"]["details"][0]["fieldViolations"][0]["field"].as_str()
        ),
        (400, Some("update_mask"))
    );
    // min above max, and one bound when leaving MANUAL, are refused.
    let (s, _) = send(
        reqwest::Method::PATCH,
        format!("{svc}?updateMask=scaling.minInstanceCount"),
        json!({"scaling": {"minInstanceCount": 90}}),
    )
    .await;
    assert_eq!(s, 400);
    // snake_case masks and %2C commas are accepted, as by the real API.
    let (s, op) = send(
        reqwest::Method::PATCH,
        format!("{svc}?updateMask=scaling.min_instance_count%2Cscaling.max_instance_count"),
        json!({"scaling": {"min_instance_count": 4, "max_instance_count": 90}}),
    )
    .await;
    assert_eq!(s, 200, "{op}");
    assert_eq!(op["done"], false);
    // A validate-only operation is not persisted: polling it is 404.
    let (_, op) = send(
        reqwest::Method::PATCH,
        format!("{svc}?updateMask=scaling.minInstanceCount&validateOnly=true"),
        json!({"scaling": {"minInstanceCount": 5}}),
    )
    .await;
    let (s, _) = send(
        reqwest::Method::GET,
        format!("{}/v2/{}", g.url, op["name"].as_str().unwrap()),
        json!(null),
    )
    .await;
    assert_eq!(s, 404);
    // Memorystore: the mask is required and takes one field; replicas need read-replica mode.
    let inst = format!(
        "{}/v1/projects/{PROJECT}/locations/{REGION}/instances/cache-main",
        g.url
    );
    assert_eq!(
        send(
            reqwest::Method::PATCH,
            inst.clone(),
            json!({"memorySizeGb": 6})
        )
        .await
        .0,
        400
    );
    assert_eq!(
        send(
            reqwest::Method::PATCH,
            format!("{inst}?updateMask=memorySizeGb,replicaCount"),
            json!({"memorySizeGb": 6, "replicaCount": 2})
        )
        .await
        .0,
        400
    );
    let (s, e) = send(
        reqwest::Method::PATCH,
        format!("{inst}?updateMask=replicaCount"),
        json!({"replicaCount": 2}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["status"].as_str()),
        (400, Some("FAILED_PRECONDITION"))
    );
    // Cloud Armor: intervals outside the allowed set; Pub/Sub: a message with nothing in it.
    let rule = format!(
        "{}/compute/v1/projects/{PROJECT}/global/securityPolicies/edge-policy",
        g.url
    );
    let (_, mut r) = send(
        reqwest::Method::GET,
        format!("{rule}/getRule?priority=1000"),
        json!(null),
    )
    .await;
    r["rateLimitOptions"]["rateLimitThreshold"]["intervalSec"] = json!(45);
    let (s, e) = send(
        reqwest::Method::POST,
        format!("{rule}/patchRule?priority=1000"),
        r,
    )
    .await;
    assert_eq!(
        (s, e["error"]["errors"][0]["reason"].as_str()),
        (400, Some("invalid"))
    );
    let topic = format!(
        "{}/v1/projects/{PROJECT}/topics/cache-warmup:publish",
        g.url
    );
    assert_eq!(
        send(reqwest::Method::POST, topic, json!({"messages": [{}]}))
            .await
            .0,
        400
    );

    // Kubernetes: strategic merge on a custom resource is 415; min above max is 422; a stale
    // resourceVersion is 409.
    let k = FakeKube::start().await;
    k.add_hpa("prod", "trips", 2, 10);
    k.add_scaled_object("prod", "realtime", 0, 40);
    let patch = |path: String, ctype: &'static str, body: serde_json::Value| {
        let (http, url) = (http.clone(), k.url.clone());
        async move {
            http.patch(format!("{url}{path}"))
                .bearer_auth(crate::fakes::kube::TOKEN)
                .header("content-type", ctype)
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let so = crate::fakes::kube::so_path("prod", "realtime");
    let hpa = crate::fakes::kube::hpa_path("prod", "trips");
    assert_eq!(
        patch(
            so.clone(),
            "application/strategic-merge-patch+json",
            json!({"spec": {"minReplicaCount": 3}})
        )
        .await,
        415
    );
    assert_eq!(
        patch(
            hpa.clone(),
            "application/merge-patch+json",
            json!({"spec": {"minReplicas": 20}})
        )
        .await,
        422
    );
    assert_eq!(
        patch(
            hpa.clone(),
            "application/merge-patch+json",
            json!({"metadata": {"resourceVersion": "0"}, "spec": {"minReplicas": 3}})
        )
        .await,
        409
    );
    assert_eq!(
        patch(
            hpa,
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/minReplicas", "value": 3}])
        )
        .await,
        200
    );
}
