//! The Bulk Data exchange: kick-off, polling, the manifest, the downloads, the local manifest
//! and the DELETE of the status URL.

use crate::auth::{self, Auth};
use crate::download;
use crate::state::{self, State};
use crate::{Outcome, Progress, PullError, PullOptions};
use cobalt_smart::discovery::{error_detail, read_limited, without_url, ServerError};
use cobalt_smart::origin;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The largest status answer (the manifest) read.
const MANIFEST_LIMIT: usize = 64 << 20;
/// The wait between polls when the server gives no `Retry-After`.
const DEFAULT_RETRY: Duration = Duration::from_secs(5);

/// Runs a pull (or resumes one) into `opts.out`.
///
/// # Errors
/// As [`PullError`]; on any error the directory holds no `manifest.json`, so nothing presents
/// it as a complete export, and the state to resume from is kept.
pub async fn pull(opts: &PullOptions, progress: &mut dyn Progress) -> Result<Outcome, PullError> {
    check_options(opts)?;
    let base = opts.fhir_server.trim_end_matches('/').to_string();
    if opts.out.join("manifest.json").exists() && state::load(&opts.out)?.is_none() {
        return Err(PullError::Usage(format!(
            "{} already holds a complete export (manifest.json); pull into another directory",
            opts.out.display()
        )));
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| PullError::Io(format!("creating {}: {e}", opts.out.display())))?;
    let key_pem = std::fs::read(&opts.key)
        .map_err(|e| PullError::Usage(format!("--key {}: {e}", opts.key.display())))?;
    let key = cobalt_smart::SigningKey::from_pem(&key_pem)
        .map_err(|e| PullError::Usage(format!("--key {}: {e}", opts.key.display())))?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| PullError::Io(e.to_string()))?;
    let mut st = match state::load(&opts.out)? {
        Some(s) if s.fhir_server != base => {
            return Err(PullError::Usage(format!(
                "{} holds an unfinished pull from {}, not {base}; pull into another directory",
                opts.out.display(),
                s.fhir_server
            )))
        }
        Some(s) => s,
        None => State {
            fhir_server: base.clone(),
            ..State::default()
        },
    };
    let candidates = auth::candidates(&opts.types, opts.scope.as_deref());
    let mut auth = Auth::new(
        http.clone(),
        &base,
        &opts.client_id,
        key,
        candidates,
        st.scope_level,
    )
    .await?;
    let mut ex = Exchange {
        http,
        base,
        auth: &mut auth,
    };
    if st.status_url.is_empty() {
        let (request, status_url) = ex.kick_off(opts).await?;
        st.request = request;
        st.status_url = status_url;
        st.kicked_off = cobalt_smart::unix_now();
        st.scope_level = ex.auth.level;
        state::save(&opts.out, &st)?;
    }
    if st.manifest.is_none() {
        let manifest = ex.poll(&st.status_url, opts, progress).await?;
        st.manifest = Some(manifest);
        st.scope_level = ex.auth.level;
        state::save(&opts.out, &st)?;
    }
    let manifest = st.manifest.clone().unwrap_or(Value::Null);
    let mut outcome = ex.download_all(&manifest, &mut st, opts, progress).await?;
    outcome.scope = ex.auth.scope().to_string();
    write_manifest(opts, &st, &manifest, &outcome)?;
    outcome.delete_problem = ex.delete(&st.status_url).await;
    let _ = std::fs::remove_dir_all(state::dir(&opts.out));
    Ok(outcome)
}

fn check_options(opts: &PullOptions) -> Result<(), PullError> {
    let u = &opts.fhir_server;
    if !(u.starts_with("https://") || u.starts_with("http://")) {
        return Err(PullError::Usage(format!(
            "--fhir-server {u}: not an http(s) URL"
        )));
    }
    if let Some(s) = &opts.since {
        if !crate::is_instant(s) {
            return Err(PullError::Usage(format!(
                "--since {s}: not a FHIR instant; expected such as 2026-11-01T00:00:00Z"
            )));
        }
    }
    if opts.types.is_empty()
        || opts
            .types
            .iter()
            .any(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(PullError::Usage(
            "--type: resource type names such as Patient,Observation".into(),
        ));
    }
    if let Some(g) = &opts.group {
        let ok = (1..=64).contains(&g.len())
            && g.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(PullError::Usage(format!("--group {g}: not a FHIR id")));
        }
    }
    Ok(())
}

struct Exchange<'a> {
    http: reqwest::Client,
    base: String,
    auth: &'a mut Auth,
}

impl Exchange<'_> {
    /// Sends a request with the token, once more after a 401 (a new token) or a 403 (wider
    /// scopes, while any are left).
    async fn send(
        &mut self,
        what: &str,
        build: &dyn Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PullError> {
        let mut retried_401 = false;
        loop {
            let token = self.auth.token().await?;
            let resp = build(&self.http, &token).send().await.map_err(|e| {
                PullError::Server(ServerError::Unreachable {
                    what: what.to_string(),
                    reason: without_url(&e),
                })
            })?;
            match resp.status() {
                StatusCode::UNAUTHORIZED if !retried_401 => {
                    retried_401 = true;
                    self.auth.forget();
                }
                StatusCode::FORBIDDEN if self.auth.widen() => {}
                _ => return Ok(resp),
            }
        }
    }

    /// An error answer as what it is, with the server's OperationOutcome or OAuth detail.
    async fn refusal(what: &str, resp: reqwest::Response) -> PullError {
        let status = resp.status().as_u16();
        let body = read_limited(resp, 64 * 1024, what)
            .await
            .unwrap_or_default();
        PullError::Server(ServerError::Status {
            what: what.to_string(),
            status,
            detail: error_detail(&body),
        })
    }

    async fn kick_off(&mut self, opts: &PullOptions) -> Result<(String, String), PullError> {
        let path = match &opts.group {
            Some(g) => format!("Group/{g}/$export"),
            None => "Patient/$export".to_string(),
        };
        let mut url = format!("{}/{path}?_type={}", self.base, opts.types.join(","));
        if let Some(s) = &opts.since {
            url.push_str("&_since=");
            url.push_str(&s.replace('+', "%2B").replace(':', "%3A"));
        }
        let what = "the export kick-off";
        let u = url.clone();
        let resp = self
            .send(what, &|http, token| {
                http.get(&u)
                    .bearer_auth(token)
                    .header("Accept", "application/fhir+json")
                    .header("Prefer", "respond-async")
            })
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(Self::refusal(what, resp).await);
        }
        let location = resp
            .headers()
            .get(reqwest::header::CONTENT_LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                PullError::Server(ServerError::Invalid {
                    what: what.into(),
                    reason: "202 without a Content-Location (the status URL)".into(),
                })
            })?;
        if origin(&location) != origin(&self.base) {
            return Err(PullError::Server(ServerError::Invalid {
                what: what.into(),
                reason: "the status URL is on another server; cobalt sends its token only to the FHIR server".into(),
            }));
        }
        Ok((url, location))
    }

    async fn poll(
        &mut self,
        status_url: &str,
        opts: &PullOptions,
        progress: &mut dyn Progress,
    ) -> Result<Value, PullError> {
        let started = Instant::now();
        let what = "the export status";
        loop {
            let resp = self
                .send(what, &|http, token| {
                    http.get(status_url)
                        .bearer_auth(token)
                        .header("Accept", "application/json")
                })
                .await?;
            match resp.status() {
                StatusCode::OK => {
                    let body = read_limited(resp, MANIFEST_LIMIT, what)
                        .await
                        .map_err(PullError::Server)?;
                    return serde_json::from_slice(&body).map_err(|e| {
                        PullError::Server(ServerError::Invalid {
                            what: what.into(),
                            reason: format!("the manifest is not JSON: {e}"),
                        })
                    });
                }
                StatusCode::ACCEPTED | StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after(&resp).unwrap_or(DEFAULT_RETRY).min(opts.poll_cap);
                    let x = resp
                        .headers()
                        .get("x-progress")
                        .and_then(|v| v.to_str().ok())
                        .map(|s| s.chars().take(100).collect::<String>());
                    progress.waiting(x.as_deref(), started.elapsed());
                    if started.elapsed() + wait > opts.max_wait {
                        return Err(PullError::NotDone(opts.max_wait.as_secs()));
                    }
                    tokio::time::sleep(wait.max(Duration::from_millis(200))).await;
                }
                StatusCode::NOT_FOUND | StatusCode::GONE => {
                    return Err(PullError::Server(ServerError::Invalid {
                        what: what.into(),
                        reason: format!(
                            "the server no longer knows this export ({}); remove {} to start a new one",
                            resp.status().as_u16(),
                            state::dir(&opts.out).display()
                        ),
                    }))
                }
                _ => return Err(Self::refusal(what, resp).await),
            }
        }
    }

    async fn download_all(
        &mut self,
        manifest: &Value,
        st: &mut State,
        opts: &PullOptions,
        progress: &mut dyn Progress,
    ) -> Result<Outcome, PullError> {
        let requires_token = manifest
            .get("requiresAccessToken")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let mut items: Vec<(bool, String, String, Option<u64>)> = Vec::new();
        let mut per_type: std::collections::BTreeMap<String, usize> = Default::default();
        for (is_error, list) in [(false, "output"), (true, "error")] {
            for o in manifest
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
                let url = o.get("url").and_then(Value::as_str).unwrap_or("");
                if kind.is_empty()
                    || !kind.bytes().all(|b| b.is_ascii_alphabetic())
                    || url.is_empty()
                {
                    return Err(PullError::Server(ServerError::Invalid {
                        what: "the manifest".into(),
                        reason: format!("an {list} entry without a resource type or a url: {o}"),
                    }));
                }
                let prefix = if is_error { "error-" } else { "" };
                let n = per_type.entry(format!("{prefix}{kind}")).or_default();
                let stem = format!("{prefix}{kind}-{n}");
                *n += 1;
                let count = o.get("count").and_then(Value::as_u64);
                items.push((is_error, stem, url.to_string(), count));
            }
        }
        progress.files(items.len());
        let mut outcome = Outcome {
            transaction_time: manifest
                .get("transactionTime")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            ..Outcome::default()
        };
        for (is_error, stem, url, count) in items {
            let (name, lines) = match st.done.get(&stem) {
                Some((name, lines)) if opts.out.join(name).is_file() => {
                    outcome.resumed += 1;
                    (name.clone(), *lines)
                }
                _ => match download::existing(&opts.out, &stem) {
                    // Renamed whole by a run that stopped before saving its state.
                    Some(path) => {
                        outcome.resumed += 1;
                        let name = path
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .to_string();
                        (name, state::count_lines(&path)?)
                    }
                    None => {
                        let d = self
                            .fetch_file(&url, &stem, count, requires_token, opts, progress)
                            .await?;
                        outcome.bytes += d.bytes;
                        (d.name, d.lines)
                    }
                },
            };
            progress.file_done(&name);
            st.done.insert(stem, (name.clone(), lines));
            st.scope_level = self.auth.level;
            state::save(&opts.out, st)?;
            if is_error {
                outcome.errors.push((name, lines));
            } else {
                outcome.files.push((name, lines));
            }
        }
        Ok(outcome)
    }

    async fn fetch_file(
        &mut self,
        url: &str,
        stem: &str,
        count: Option<u64>,
        requires_token: bool,
        opts: &PullOptions,
        progress: &mut dyn Progress,
    ) -> Result<download::Downloaded, PullError> {
        let what = format!("the download of {stem}");
        let same_origin = origin(url) == origin(&self.base);
        if requires_token && !same_origin {
            return Err(PullError::Server(ServerError::Invalid {
                what,
                reason: "the manifest asks for the token on another server; cobalt sends it only to the FHIR server".into(),
            }));
        }
        let resp = if requires_token {
            self.send(&what, &|http, token| {
                http.get(url)
                    .bearer_auth(token)
                    .header("Accept", "application/fhir+ndjson")
                    .header("Accept-Encoding", "gzip")
            })
            .await?
        } else {
            self.http
                .get(url)
                .header("Accept", "application/fhir+ndjson")
                .header("Accept-Encoding", "gzip")
                .send()
                .await
                .map_err(|e| {
                    PullError::Server(ServerError::Unreachable {
                        what: what.clone(),
                        reason: without_url(&e),
                    })
                })?
        };
        if !resp.status().is_success() {
            return Err(Self::refusal(&what, resp).await);
        }
        download::save(resp, &opts.out, stem, count, &mut |n| progress.bytes(n)).await
    }

    /// Deletes the export on the server; what went wrong, if anything (never fatal).
    async fn delete(&mut self, status_url: &str) -> Option<String> {
        let what = "the DELETE of the export";
        match self
            .send(what, &|http, token| {
                http.delete(status_url).bearer_auth(token)
            })
            .await
        {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(Self::refusal(what, r).await.to_string()),
            Err(e) => Some(e.to_string()),
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is read as the default wait).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Writes the export's `manifest.json` (temporary name, then rename): the server's
/// `transactionTime` and `request`, each file by its local name with its line count.
fn write_manifest(
    opts: &PullOptions,
    st: &State,
    manifest: &Value,
    outcome: &Outcome,
) -> Result<(), PullError> {
    let kind = |name: &str| -> String {
        let n = name.strip_prefix("error-").unwrap_or(name);
        n.chars().take_while(|c| c.is_ascii_alphabetic()).collect()
    };
    let list = |files: &[(String, u64)]| -> Vec<Value> {
        files
            .iter()
            .map(|(name, lines)| json!({ "type": kind(name), "url": name, "count": lines }))
            .collect()
    };
    let local = json!({
        "transactionTime": manifest.get("transactionTime").cloned().unwrap_or(Value::Null),
        "request": manifest.get("request").cloned().unwrap_or_else(|| json!(st.request)),
        "requiresAccessToken": false,
        "output": list(&outcome.files),
        "error": list(&outcome.errors),
        "extension": { "cobalt-pull": {
            "fhirServer": st.fhir_server,
            "since": opts.since,
            "scope": outcome.scope,
        } },
    });
    let tmp = opts.out.join("manifest.json.tmp");
    let bytes = serde_json::to_vec_pretty(&local).map_err(|e| PullError::Io(e.to_string()))?;
    std::fs::write(&tmp, bytes)
        .map_err(|e| PullError::Io(format!("writing {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, opts.out.join("manifest.json"))
        .map_err(|e| PullError::Io(format!("writing manifest.json: {e}")))
}
