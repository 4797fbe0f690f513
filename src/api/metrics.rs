//! Prometheus metrics in the text exposition format, kept in process: request counts and
//! latency histograms by route, plus gauges and counters the jobs set.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket bounds, seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    n: u64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    counters: BTreeMap<(String, String), f64>,
    gauges: BTreeMap<(String, String), f64>,
}

/// The registry.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let h = m
            .latency
            .entry(route.to_owned())
            .or_insert_with(|| Histogram {
                counts: vec![0; BUCKETS.len()],
                ..Histogram::default()
            });
        let s = took.as_secs_f64();
        for (c, b) in h.counts.iter_mut().zip(BUCKETS) {
            if s <= *b {
                *c += 1;
            }
        }
        h.sum += s;
        h.n += 1;
    }

    /// Adds to a counter `name{label}`.
    pub fn add(&self, name: &str, label: &str, by: f64) {
        *self
            .inner
            .lock()
            .expect("metrics lock")
            .counters
            .entry((name.to_owned(), label.to_owned()))
            .or_default() += by;
    }

    /// Sets a gauge `name{label}`.
    pub fn set(&self, name: &str, label: &str, value: f64) {
        self.inner
            .lock()
            .expect("metrics lock")
            .gauges
            .insert((name.to_owned(), label.to_owned()), value);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut o = String::new();
        o.push_str(
            "# HELP prescale_http_requests_total HTTP requests by method, route and status.\n",
        );
        o.push_str("# TYPE prescale_http_requests_total counter\n");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                o,
                "prescale_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        o.push_str(
            "# HELP prescale_http_request_duration_seconds HTTP request latency by route.\n",
        );
        o.push_str("# TYPE prescale_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            for (c, b) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    o,
                    "prescale_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                o,
                "prescale_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.n
            );
            let _ = writeln!(
                o,
                "prescale_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                o,
                "prescale_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.n
            );
        }
        let mut last = String::new();
        for ((name, label), v) in &m.counters {
            if *name != last {
                let _ = writeln!(o, "# TYPE {name} counter");
                last.clone_from(name);
            }
            let _ = writeln!(o, "{name}{label} {v}");
        }
        for ((name, label), v) in &m.gauges {
            if *name != last {
                let _ = writeln!(o, "# TYPE {name} gauge");
                last.clone_from(name);
            }
            let _ = writeln!(o, "{name}{label} {v}");
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_render_as_prometheus_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("GET", "/healthz", 200, Duration::from_micros(300));
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(20));
        m.set("prescale_last_publish_timestamp_seconds", "", 42.0);
        let text = m.render();
        assert!(
            text.contains(
                "prescale_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains(
            "prescale_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "prescale_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.025\"} 2"
        ));
        assert!(text.contains("prescale_last_publish_timestamp_seconds 42"));
    }
}
