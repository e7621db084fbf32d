//! A stand-in for the Hugging Face hub on 127.0.0.1, started by the tests themselves.
#![allow(dead_code)] // shared by several test binaries; each uses part of it
//!
//! ```text
//!  hf-hub client ──HTTP/1.1──► MockHub (tiny_http, random port) ──► files under `root`
//!    HEAD/GET /datasets/{owner}/{name}/resolve/{rev}/{path}   ETag, X-Repo-Commit, Content-Length
//!    GET /api/datasets/{owner}/{name}[/revision/{rev}]        info with siblings
//!    GET /api/datasets/{owner}/{name}/tree/{rev}[/{path}]     ?recursive=true
//! ```
//!
//! It answers the way the hub does for plain (non-Xet) files, as `hf-hub` 1.0 expects: no
//! `X-Xet-Hash` header (that would switch the client to the Xet protocol), 404 with
//! `X-Error-Code: EntryNotFound` / `RevisionNotFound` / `RepoNotFound`, 304 on a matching
//! `If-None-Match`. Revisions `main` and [`COMMIT`] serve the same files. Every request line is
//! recorded for the tests to inspect. Include it with `#[path = "support/mock_hub.rs"] mod mock_hub;`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// The commit every revision resolves to.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A running mock hub serving one data set repository.
pub struct MockHub {
    /// `http://127.0.0.1:PORT`, for `HFClient::builder().endpoint(..)` or `HF_ENDPOINT`.
    pub url: String,
    server: Arc<tiny_http::Server>,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

struct State {
    root: PathBuf,
    repo: String,
    requests: Mutex<Vec<String>>,
    failing: Mutex<BTreeSet<String>>,
}

impl MockHub {
    /// Serves the files under `root` as the data set `repo` (`owner/name`).
    pub fn serve(root: &Path, repo: &str) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let state = Arc::new(State {
            root: root.to_owned(),
            repo: repo.to_owned(),
            requests: Mutex::new(Vec::new()),
            failing: Mutex::new(BTreeSet::new()),
        });
        let (srv, st) = (Arc::clone(&server), Arc::clone(&state));
        let thread = std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                handle(&st, request);
            }
        });
        Self { url: format!("http://127.0.0.1:{port}"), server, state, thread: Some(thread) }
    }

    /// The requests so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Makes downloads of `path` answer 500 from now on (a broken file on the server side).
    pub fn fail_downloads_of(&self, path: &str) {
        self.state.failing.lock().unwrap().insert(path.to_owned());
    }
}

impl Drop for MockHub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Reply = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn json(status: u16, value: serde_json::Value) -> Reply {
    tiny_http::Response::from_data(value.to_string().into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

fn not_found(code: &str, message: &str) -> Reply {
    json(404, serde_json::json!({ "error": message })).with_header(header("X-Error-Code", code))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'%'
            && let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn handle(state: &State, request: tiny_http::Request) {
    let method = request.method().to_string();
    let url = request.url().to_owned();
    state.requests.lock().unwrap().push(format!("{method} {url}"));
    let if_none_match =
        request.headers().iter().find(|h| h.field.equiv("If-None-Match")).map(|h| h.value.as_str().to_owned());
    let reply = route(state, &method, &url, if_none_match.as_deref());
    let _ = request.respond(reply);
}

fn route(state: &State, method: &str, url: &str, if_none_match: Option<&str>) -> Reply {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = percent_decode(path);
    let repo_prefix = format!("/datasets/{}/", state.repo);
    let api_prefix = format!("/api/datasets/{}", state.repo);
    if let Some(rest) = path.strip_prefix(&repo_prefix).and_then(|r| r.strip_prefix("resolve/")) {
        let Some((rev, file)) = rest.split_once('/') else { return not_found("EntryNotFound", "no file") };
        return resolve(state, rev, file, if_none_match);
    }
    if method != "GET" {
        return json(405, serde_json::json!({ "error": "method not allowed" }));
    }
    let Some(rest) = path.strip_prefix(&api_prefix) else {
        return not_found("RepoNotFound", "Repository not found");
    };
    if rest.is_empty() || rest.strip_prefix("/revision/").is_some_and(known_revision) {
        let siblings: Vec<_> = walk(&state.root)
            .into_iter()
            .filter(|(_, is_dir)| !is_dir)
            .map(|(p, _)| serde_json::json!({ "rfilename": p }))
            .collect();
        return json(
            200,
            serde_json::json!({ "_id": "mock", "id": state.repo, "sha": COMMIT, "private": false, "siblings": siblings }),
        );
    }
    if let Some(tree) = rest.strip_prefix("/tree/") {
        let (rev, sub) = tree.split_once('/').unwrap_or((tree, ""));
        if !known_revision(rev) {
            return not_found("RevisionNotFound", "Invalid rev id");
        }
        let sub = sub.trim_matches('/');
        let recursive = query.split('&').any(|kv| kv == "recursive=true" || kv == "recursive=1");
        let base = if sub.is_empty() { String::new() } else { format!("{sub}/") };
        if !sub.is_empty() && !state.root.join(sub).is_dir() {
            return not_found("EntryNotFound", "Path not found");
        }
        let entries: Vec<_> = walk(&state.root)
            .into_iter()
            .filter(|(p, _)| p.starts_with(&base) && (recursive || !p[base.len()..].contains('/')))
            .map(|(p, is_dir)| {
                let oid = &hex_sha256(p.as_bytes())[..40];
                if is_dir {
                    serde_json::json!({ "type": "directory", "oid": oid, "size": 0, "path": p })
                } else {
                    let size = std::fs::metadata(state.root.join(&p)).map(|m| m.len()).unwrap_or(0);
                    serde_json::json!({ "type": "file", "oid": oid, "size": size, "path": p })
                }
            })
            .collect();
        return json(200, serde_json::Value::Array(entries));
    }
    not_found("EntryNotFound", "unknown endpoint")
}

fn known_revision(rev: &str) -> bool {
    rev == "main" || rev == COMMIT
}

fn resolve(state: &State, rev: &str, file: &str, if_none_match: Option<&str>) -> Reply {
    if !known_revision(rev) {
        return not_found("RevisionNotFound", "Invalid rev id");
    }
    if file.split('/').any(|p| p == ".." || p.is_empty()) {
        return not_found("EntryNotFound", "Entry not found");
    }
    if state.failing.lock().unwrap().contains(file) {
        return json(500, serde_json::json!({ "error": "internal error" }));
    }
    let Ok(data) = std::fs::read(state.root.join(file)) else {
        return not_found("EntryNotFound", "Entry not found");
    };
    let etag = format!("\"{}\"", hex_sha256(&data));
    let common = |r: Reply| r.with_header(header("ETag", &etag)).with_header(header("X-Repo-Commit", COMMIT));
    if if_none_match == Some(etag.as_str()) {
        return common(tiny_http::Response::from_data(Vec::new()).with_status_code(304));
    }
    // The same reply serves HEAD: tiny_http sends its Content-Length and leaves the body out.
    common(tiny_http::Response::from_data(data))
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Every path under `root` (relative, `/`-separated, sorted), with whether it is a directory.
fn walk(root: &Path) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            let is_dir = path.is_dir();
            if is_dir {
                stack.push(path);
            }
            out.push((rel, is_dir));
        }
    }
    out.sort();
    out
}
