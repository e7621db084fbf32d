//! A stand-in for the Hugging Face hub and its CDN on 127.0.0.1, started by the tests themselves.
#![allow(dead_code)] // shared by several test binaries; each uses part of it
//!
//! ```text
//!  hf-hub client ──HTTP/1.1──► MockHub (tiny_http, random port) ──► files under each revision's root
//!    GET /api/datasets/{owner}/{name}[/revision/{rev}]        info with sha and siblings
//!    GET /api/datasets/{owner}/{name}/tree/{rev}[/{path}]     ?recursive=true, pages of `page_size`
//!                                                              linked by `Link: <…>; rel="next"`
//!    HEAD/GET /datasets/{owner}/{name}/resolve/{rev}/{path}   a git file: 200 with ETag, X-Repo-Commit
//!                                                              a `.tar` (LFS): 302 to the CDN with
//!                                                              X-Linked-Etag, X-Linked-Size, X-Repo-Commit
//!  ──302──► CDN (raw TCP, random port)  GET /repos/{sha256}   the bytes, or the fault set for the file
//! ```
//!
//! It answers the way the hub does for plain and LFS (non-Xet) files, as `hf-hub` 1.0 expects: no
//! `X-Xet-Hash` header (that would switch the client to the Xet protocol), 404 with
//! `X-Error-Code: EntryNotFound` / `RevisionNotFound` / `RepoNotFound`, 304 on a matching
//! `If-None-Match`. The tree lists `.tar` files with `lfs: {oid: SHA-256, size, pointerSize}`.
//! Revisions: `main` is the latest [`MockHub::publish`]ed commit ([`COMMIT`] at the start); every
//! commit published stays readable by its sha. A [`Fault`] set on a file breaks its CDN GETs
//! (the HEAD on the hub stays good) until [`MockHub::clear_faults`]. Every request line is
//! recorded for the tests to inspect (the CDN's as `CDN GET /repos/…`). Include it with
//! `#[path = "support/mock_hub.rs"] mod mock_hub;`.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The commit `main` resolves to until another one is published.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// How the CDN breaks the GETs of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An error page with this status (403: an expired signed URL; 500: a broken server).
    ErrorPage(u16),
    /// The full `Content-Length`, half the body, then the connection is closed.
    CutShort,
    /// Half the body, then the connection is reset (RST).
    Reset,
    /// Half the body, then nothing more until the mock is dropped.
    Stall,
    /// The full body with one byte changed: the size is right, the content is not.
    Corrupt,
}

/// A running mock hub serving one data set repository.
pub struct MockHub {
    /// `http://127.0.0.1:PORT`, for `HFClient::builder().endpoint(..)` or `HF_ENDPOINT`.
    pub url: String,
    server: Arc<tiny_http::Server>,
    state: Arc<State>,
    threads: Vec<JoinHandle<()>>,
}

struct State {
    repo: String,
    url: String,
    cdn_url: String,
    /// Commits and the folder each serves, oldest first; `main` is the last.
    revisions: Mutex<Vec<(String, PathBuf)>>,
    requests: Mutex<Vec<String>>,
    /// The fault of each file, and how many more GETs it breaks (`None`: all of them).
    faults: Mutex<BTreeMap<String, (Fault, Option<usize>)>>,
    page_size: Mutex<usize>,
    /// What the CDN serves: SHA-256 → (file on disk, repository path), filled as files resolve.
    blobs: Mutex<HashMap<String, (PathBuf, String)>>,
    stopping: AtomicBool,
}

impl MockHub {
    /// Serves the files under `root` as the data set `repo` (`owner/name`) at commit [`COMMIT`].
    pub fn serve(root: &Path, repo: &str) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let cdn = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        cdn.set_nonblocking(true).expect("a non-blocking listener");
        let cdn_port = cdn.local_addr().expect("an address").port();
        let url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(State {
            repo: repo.to_owned(),
            url: url.clone(),
            cdn_url: format!("http://127.0.0.1:{cdn_port}"),
            revisions: Mutex::new(vec![(COMMIT.to_owned(), root.to_owned())]),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(BTreeMap::new()),
            page_size: Mutex::new(1000),
            blobs: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
        });
        let (srv, st) = (Arc::clone(&server), Arc::clone(&state));
        let hub = std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                handle(&st, request);
            }
        });
        let st = Arc::clone(&state);
        let cdn = std::thread::spawn(move || serve_cdn(&st, &cdn));
        Self { url, server, state, threads: vec![hub, cdn] }
    }

    /// The requests so far, as `METHOD /path?query` (`CDN METHOD /path` for the CDN's).
    pub fn requests(&self) -> Vec<String> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Breaks the CDN GETs of `path` (a repository path) the way `fault` says, from now on.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.state.faults.lock().unwrap().insert(path.to_owned(), (fault, None));
    }

    /// Breaks the next `times` CDN GETs of `path` the way `fault` says; the later ones are good.
    pub fn fault_times(&self, path: &str, fault: Fault, times: usize) {
        self.state.faults.lock().unwrap().insert(path.to_owned(), (fault, Some(times)));
    }

    /// Serves every file well again.
    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }

    /// Tree pages of at most `entries` entries from now on (the hub's are 1000).
    pub fn set_page_size(&self, entries: usize) {
        *self.state.page_size.lock().unwrap() = entries.max(1);
    }

    /// Publishes the files under `root` as a new commit, which `main` now points at; returns
    /// its sha. The earlier commits stay readable by their sha.
    pub fn publish(&self, root: &Path) -> String {
        let mut revisions = self.state.revisions.lock().unwrap();
        let sha = hex_sha256(format!("commit {}", revisions.len()).as_bytes())[..40].to_owned();
        revisions.push((sha.clone(), root.to_owned()));
        sha
    }
}

impl Drop for MockHub {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::Release);
        self.server.unblock();
        for thread in self.threads.drain(..) {
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

/// The commit and folder `rev` (a sha, or `main`) names.
fn revision(state: &State, rev: &str) -> Option<(String, PathBuf)> {
    let revisions = state.revisions.lock().unwrap();
    if rev == "main" {
        return revisions.last().cloned();
    }
    revisions.iter().find(|(sha, _)| sha == rev).cloned()
}

/// A `.tar` is stored in LFS, as the data set's shards are; everything else in git.
fn is_lfs(path: &str) -> bool {
    path.ends_with(".tar")
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
    let info_of = if rest.is_empty() { Some("main") } else { rest.strip_prefix("/revision/") };
    if let Some(rev) = info_of {
        let Some((sha, root)) = revision(state, rev) else { return not_found("RevisionNotFound", "Invalid rev id") };
        let siblings: Vec<_> = walk(&root)
            .into_iter()
            .filter(|(_, is_dir)| !is_dir)
            .map(|(p, _)| serde_json::json!({ "rfilename": p }))
            .collect();
        return json(
            200,
            serde_json::json!({ "_id": "mock", "id": state.repo, "sha": sha, "private": false, "siblings": siblings }),
        );
    }
    if let Some(tree) = rest.strip_prefix("/tree/") {
        return list_tree(state, tree, query);
    }
    not_found("EntryNotFound", "unknown endpoint")
}

fn list_tree(state: &State, tree: &str, query: &str) -> Reply {
    let (rev, sub) = tree.split_once('/').unwrap_or((tree, ""));
    let Some((_, root)) = revision(state, rev) else { return not_found("RevisionNotFound", "Invalid rev id") };
    let sub = sub.trim_matches('/');
    let param = |key: &str| query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='));
    let recursive = matches!(param("recursive"), Some("true" | "1"));
    let cursor: usize = param("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let base = if sub.is_empty() { String::new() } else { format!("{sub}/") };
    if !sub.is_empty() && !root.join(sub).is_dir() {
        return not_found("EntryNotFound", "Path not found");
    }
    let entries: Vec<_> = walk(&root)
        .into_iter()
        .filter(|(p, _)| p.starts_with(&base) && (recursive || !p[base.len()..].contains('/')))
        .map(|(p, is_dir)| {
            if is_dir {
                let oid = &hex_sha256(p.as_bytes())[..40];
                return serde_json::json!({ "type": "directory", "oid": oid, "size": 0, "path": p });
            }
            let data = std::fs::read(root.join(&p)).unwrap_or_default();
            let sha256 = hex_sha256(&data);
            if is_lfs(&p) {
                serde_json::json!({ "type": "file", "oid": pointer_oid(&sha256), "size": data.len(), "path": p,
                    "lfs": { "oid": sha256, "size": data.len(), "pointerSize": 134 } })
            } else {
                serde_json::json!({ "type": "file", "oid": &sha256[..40], "size": data.len(), "path": p })
            }
        })
        .collect();
    let page_size = *state.page_size.lock().unwrap();
    let end = (cursor + page_size).min(entries.len());
    let page = entries.get(cursor..end).unwrap_or_default().to_vec();
    let mut reply = json(200, serde_json::Value::Array(page));
    if end < entries.len() {
        let next = format!(
            "<{}/api/datasets/{}/tree/{tree}?recursive={recursive}&cursor={end}>; rel=\"next\"",
            state.url, state.repo
        );
        reply = reply.with_header(header("Link", &next));
    }
    reply
}

/// The git oid of an LFS pointer (made up: the hub's is the SHA-1 of the pointer file).
fn pointer_oid(sha256: &str) -> String {
    hex_sha256(format!("pointer {sha256}").as_bytes())[..40].to_owned()
}

fn resolve(state: &State, rev: &str, file: &str, if_none_match: Option<&str>) -> Reply {
    let Some((sha, root)) = revision(state, rev) else { return not_found("RevisionNotFound", "Invalid rev id") };
    if file.split('/').any(|p| p == ".." || p.is_empty()) {
        return not_found("EntryNotFound", "Entry not found");
    }
    let on_disk = root.join(file);
    let Ok(data) = std::fs::read(&on_disk) else {
        return not_found("EntryNotFound", "Entry not found");
    };
    let sha256 = hex_sha256(&data);
    if is_lfs(file) {
        state.blobs.lock().unwrap().insert(sha256.clone(), (on_disk, file.to_owned()));
        let linked = format!("\"{sha256}\"");
        let common = |r: Reply| {
            r.with_header(header("ETag", &format!("\"{}\"", pointer_oid(&sha256))))
                .with_header(header("X-Linked-Etag", &linked))
                .with_header(header("X-Linked-Size", &data.len().to_string()))
                .with_header(header("X-Repo-Commit", &sha))
        };
        if if_none_match == Some(linked.as_str()) {
            return common(tiny_http::Response::from_data(Vec::new()).with_status_code(304));
        }
        let location = format!("{}/repos/{sha256}", state.cdn_url);
        return common(tiny_http::Response::from_data(Vec::new()).with_status_code(302))
            .with_header(header("Location", &location));
    }
    let etag = format!("\"{}\"", &sha256[..40]);
    let common = |r: Reply| r.with_header(header("ETag", &etag)).with_header(header("X-Repo-Commit", &sha));
    if if_none_match == Some(etag.as_str()) {
        return common(tiny_http::Response::from_data(Vec::new()).with_status_code(304));
    }
    // The same reply serves HEAD: tiny_http sends its Content-Length and leaves the body out.
    common(tiny_http::Response::from_data(data))
}

/// The CDN: one thread per connection, so a stalled answer holds up nothing else.
fn serve_cdn(state: &Arc<State>, listener: &TcpListener) {
    let mut connections = Vec::new();
    while !state.stopping.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => {
                let st = Arc::clone(state);
                connections.push(std::thread::spawn(move || {
                    let _ = answer_cdn(&st, stream);
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break,
        }
    }
    for connection in connections {
        let _ = connection.join();
    }
}

fn answer_cdn(state: &State, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 << 10 {
        if stream.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    state.requests.lock().unwrap().push(format!("CDN {method} {path}"));
    let sha256 = path.split('?').next().unwrap_or_default().strip_prefix("/repos/").unwrap_or_default();
    let found = state.blobs.lock().unwrap().get(sha256).cloned();
    let Some((file, repo_path)) = found else {
        return stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    let mut data = std::fs::read(file)?;
    let fault = if method == "GET" { take_fault(state, &repo_path) } else { None };
    if let Some(Fault::ErrorPage(status)) = fault {
        let page = format!("<html><body><h1>{status}</h1><p>AccessDenied: Request has expired</p></body></html>");
        let head = format!(
            "HTTP/1.1 {status} Error\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            page.len()
        );
        return stream.write_all(format!("{head}{page}").as_bytes());
    }
    if fault == Some(Fault::Corrupt) {
        let middle = data.len() / 2;
        data[middle] ^= 0xff;
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        data.len()
    );
    stream.write_all(head.as_bytes())?;
    if method != "GET" {
        return Ok(());
    }
    let half = &data[..data.len() / 2];
    match fault {
        None | Some(Fault::Corrupt) | Some(Fault::ErrorPage(_)) => stream.write_all(&data),
        Some(Fault::CutShort) => {
            stream.write_all(half)?;
            stream.flush()?;
            stream.shutdown(std::net::Shutdown::Both)
        }
        Some(Fault::Reset) => {
            stream.write_all(half)?;
            stream.flush()?;
            // Give the client the half before the reset throws away what is still unsent.
            std::thread::sleep(Duration::from_millis(100));
            socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
            drop(stream);
            Ok(())
        }
        Some(Fault::Stall) => {
            stream.write_all(half)?;
            stream.flush()?;
            let deadline = Instant::now() + Duration::from_secs(120);
            while !state.stopping.load(Ordering::Acquire) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        }
    }
}

/// The fault a GET of `repo_path` meets now, counting it down.
fn take_fault(state: &State, repo_path: &str) -> Option<Fault> {
    let mut faults = state.faults.lock().unwrap();
    let (fault, left) = faults.get_mut(repo_path)?;
    let fault = *fault;
    match left {
        Some(0) => {
            faults.remove(repo_path);
            return None;
        }
        Some(n) => *n -= 1,
        None => {}
    }
    Some(fault)
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
