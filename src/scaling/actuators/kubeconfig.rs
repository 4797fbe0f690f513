//! Kubernetes credentials from a kubeconfig file (as `kubectl` reads it): the current context's
//! cluster (`server`, `certificate-authority` or `-data`) and user (`token`, `tokenFile`, or
//! `client-certificate`/`client-key` and their `-data` forms). Exec and auth-provider plugins
//! are not run: a user that needs one is an error that says so.

use std::path::{Path, PathBuf};

use base64::Engine;
use yaml_rust2::{Yaml, YamlLoader};

/// What the current context says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub server: String,
    /// PEM of the cluster's CA, if given.
    pub ca_pem: Option<Vec<u8>>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    /// PEM of the client certificate followed by its key, if given.
    pub identity_pem: Option<Vec<u8>>,
}

fn named<'a>(doc: &'a Yaml, list: &str, name: &str, inner: &str) -> Option<&'a Yaml> {
    doc[list]
        .as_vec()?
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .map(|e| &e[inner])
        .filter(|v| !v.is_badvalue())
}

/// Reads `path` and resolves its current context (or `context` when given).
///
/// # Errors
/// A message naming the file and what is missing or unsupported.
pub fn load(path: &Path, context: Option<&str>) -> Result<Resolved, String> {
    let at = |m: String| format!("kubeconfig {}: {m}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| at(e.to_string()))?;
    let doc = docs.first().ok_or_else(|| at("empty".into()))?;
    let ctx_name = context
        .map(str::to_owned)
        .or_else(|| doc["current-context"].as_str().map(str::to_owned))
        .ok_or_else(|| at("no current-context".into()))?;
    let ctx = named(doc, "contexts", &ctx_name, "context")
        .ok_or_else(|| at(format!("no context {ctx_name:?}")))?;
    let cluster_name = ctx["cluster"]
        .as_str()
        .ok_or_else(|| at(format!("context {ctx_name:?} has no cluster")))?;
    let cluster = named(doc, "clusters", cluster_name, "cluster")
        .ok_or_else(|| at(format!("no cluster {cluster_name:?}")))?;
    let server = cluster["server"]
        .as_str()
        .ok_or_else(|| at(format!("cluster {cluster_name:?} has no server")))?
        .trim_end_matches('/')
        .to_owned();
    // Relative paths in a kubeconfig are relative to the file.
    let base = path.parent().unwrap_or(Path::new("."));
    let file = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base.join(p) }
    };
    let read =
        |p: &str, what: &str| std::fs::read(file(p)).map_err(|e| at(format!("{what} {p}: {e}")));
    let data = |v: &str, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .map_err(|e| at(format!("{what}: not base64: {e}")))
    };
    let ca_pem = match (
        cluster["certificate-authority-data"].as_str(),
        cluster["certificate-authority"].as_str(),
    ) {
        (Some(d), _) => Some(data(d, "certificate-authority-data")?),
        (None, Some(p)) => Some(read(p, "certificate-authority")?),
        (None, None) => None,
    };
    let mut r = Resolved {
        server,
        ca_pem,
        token: None,
        token_file: None,
        identity_pem: None,
    };
    let Some(user_name) = ctx["user"].as_str() else {
        return Ok(r);
    };
    let user = named(doc, "users", user_name, "user")
        .ok_or_else(|| at(format!("no user {user_name:?}")))?;
    if !user["exec"].is_badvalue() || !user["auth-provider"].is_badvalue() {
        return Err(at(format!(
            "user {user_name:?} needs a credential plugin (exec or auth-provider), which prescale does not run: give it a token or a token file"
        )));
    }
    r.token = user["token"].as_str().map(str::to_owned);
    r.token_file = user["tokenFile"].as_str().map(file);
    let cert = match (
        user["client-certificate-data"].as_str(),
        user["client-certificate"].as_str(),
    ) {
        (Some(d), _) => Some(data(d, "client-certificate-data")?),
        (None, Some(p)) => Some(read(p, "client-certificate")?),
        _ => None,
    };
    let key = match (
        user["client-key-data"].as_str(),
        user["client-key"].as_str(),
    ) {
        (Some(d), _) => Some(data(d, "client-key-data")?),
        (None, Some(p)) => Some(read(p, "client-key")?),
        _ => None,
    };
    r.identity_pem = match (cert, key) {
        (Some(mut c), Some(k)) => {
            c.push(b'\n');
            c.extend(k);
            Some(c)
        }
        (None, None) => None,
        _ => {
            return Err(at(format!(
                "user {user_name:?} has a client certificate without its key, or the reverse"
            )));
        }
    };
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    const CONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: dev
  context: {cluster: dev, user: dev}
- name: prod
  context:
    cluster: gke-prod
    user: prescale
    namespace: prod
clusters:
- name: gke-prod
  cluster:
    server: https://10.0.0.1:443/
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
- name: dev
  cluster: {server: "http://127.0.0.1:8001"}
users:
- name: prescale
  user:
    token: sa-token-1
- name: dev
  user:
    exec: {command: gke-gcloud-auth-plugin}
"#;

    #[test]
    fn the_current_context_gives_server_ca_and_token() {
        let (_d, p) = write(CONFIG);
        let r = load(&p, None).unwrap();
        assert_eq!(r.server, "https://10.0.0.1:443");
        assert_eq!(
            r.ca_pem.as_deref(),
            Some(&b"-----BEGIN CERTIFICATE-----\n"[..])
        );
        assert_eq!(r.token.as_deref(), Some("sa-token-1"));
        assert_eq!(r.identity_pem, None);
    }

    #[test]
    fn plugins_and_missing_pieces_are_named() {
        let (_d, p) = write(CONFIG);
        let e = load(&p, Some("dev")).unwrap_err();
        assert!(
            e.contains("credential plugin") && e.contains("\"dev\""),
            "{e}"
        );
        let e = load(&p, Some("staging")).unwrap_err();
        assert!(
            e.contains("no context \"staging\"") && e.contains("kubeconfig"),
            "{e}"
        );
        let (_d, p) = write("current-context: x\ncontexts: []\n");
        assert!(load(&p, None).unwrap_err().contains("no context \"x\""));
    }
}
