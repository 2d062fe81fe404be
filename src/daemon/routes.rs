//! The REST API: one table of routes (what `doc/openapi.yaml` documents, checked by a test),
//! and one handler per route over the manager. Quick reads answer at once (200); work that
//! may take long (start, stop, create, image downloads) answers 202 with an operation.

use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::{attach, Daemon};
use crate::api;
use crate::manager::Error as MError;
use crate::wire::Request;

/// Every route: method and path pattern (`{x}` is one segment). Literal routes come before
/// the patterns that would also match them.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/1.0"),
    ("POST", "/1.0/shutdown"),
    ("GET", "/1.0/containers"),
    ("POST", "/1.0/containers"),
    ("GET", "/1.0/containers/{name}"),
    ("PUT", "/1.0/containers/{name}"),
    ("PATCH", "/1.0/containers/{name}"),
    ("DELETE", "/1.0/containers/{name}"),
    ("GET", "/1.0/containers/{name}/state"),
    ("PUT", "/1.0/containers/{name}/state"),
    ("POST", "/1.0/containers/{name}/exec"),
    ("GET", "/1.0/containers/{name}/console"),
    ("GET", "/1.0/containers/{name}/log"),
    ("GET", "/1.0/images"),
    ("POST", "/1.0/images"),
    ("POST", "/1.0/images/build"),
    ("GET", "/1.0/images/aliases"),
    ("POST", "/1.0/images/aliases"),
    ("DELETE", "/1.0/images/aliases/{alias}"),
    ("GET", "/1.0/images/{name}"),
    ("DELETE", "/1.0/images/{name}"),
    ("POST", "/1.0/images/{name}/export"),
    ("GET", "/1.0/doctor"),
    ("GET", "/1.0/remotes"),
    ("POST", "/1.0/remotes"),
    ("DELETE", "/1.0/remotes/{name}"),
    ("GET", "/1.0/networks"),
    ("POST", "/1.0/networks"),
    ("GET", "/1.0/networks/{name}"),
    ("PATCH", "/1.0/networks/{name}"),
    ("DELETE", "/1.0/networks/{name}"),
    ("GET", "/1.0/events"),
    ("GET", "/1.0/operations"),
    ("GET", "/1.0/operations/{id}"),
    ("GET", "/1.0/operations/{id}/wait"),
    ("DELETE", "/1.0/operations/{id}"),
];

/// What a handler answers.
pub enum Reply {
    Json(u16, Value),
    /// 202 and the operation.
    Op(Box<api::Operation>),
    Error(u16, String, Option<String>),
    /// Raw bytes (the console log).
    Bytes(Vec<u8>),
    /// The handler wrote the answer itself (streams, upgrades).
    Done,
}

fn err(status: u16, m: impl Into<String>) -> Reply {
    Reply::Error(status, m.into(), None)
}

/// The status a manager error maps to: 400 bad input, 404 unknown, 409 state conflicts,
/// 500 ours.
pub fn status_of(e: &MError) -> u16 {
    use crate::manager::ImageError as I;
    use crate::manager::StorageError as S;
    match e {
        MError::NotFound(_) => 404,
        MError::Exists(_) | MError::Running(_) | MError::AlreadyRunning(_) | MError::NotRunning(_) | MError::NoConsole(_) => 409,
        MError::NoRootfs(_) | MError::BadEnv(_) | MError::Invalid(_) | MError::NotSet { .. } => 400,
        MError::Storage(S::InvalidName { .. } | S::UnknownKey { .. } | S::InvalidValue { .. }) => 400,
        MError::Image(I::NotFound(_) | I::NoSuchImage { .. } | I::NoAlias(_)) => 404,
        MError::Image(I::BadAlias(_) | I::Ambiguous(_) | I::Invalid(_) | I::Unsupported { .. }) => 400,
        MError::Image(I::AliasExists { .. }) => 409,
        _ => 500,
    }
}

fn merr(e: MError) -> Reply {
    Reply::Error(status_of(&e), crate::manager::chain(&e), None)
}

fn body<T: DeserializeOwned>(req: &Request) -> Result<T, Reply> {
    serde_json::from_slice(&req.body).map_err(|e| err(400, format!("bad request body: {e}")))
}

fn ok<T: serde::Serialize>(v: T) -> Reply {
    Reply::Json(200, serde_json::to_value(v).expect("API types serialise"))
}

/// Match `segments` against the table: the route's index and its `{x}` values.
pub fn find(method: &str, segments: &[String]) -> Result<(usize, Vec<String>), u16> {
    let mut path_matched = false;
    for (i, (m, pattern)) in ROUTES.iter().enumerate() {
        let pat: Vec<&str> = pattern.trim_matches('/').split('/').collect();
        if pat.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let hit = pat.iter().zip(segments).all(|(p, s)| {
            if p.starts_with('{') {
                params.push(s.clone());
                !s.is_empty()
            } else {
                p == s
            }
        });
        if !hit {
            continue;
        }
        // A literal route of the same shape wins over a pattern for its own methods only.
        path_matched = true;
        if *m == method {
            return Ok((i, params));
        }
    }
    Err(if path_matched { 405 } else { 404 })
}

#[allow(clippy::cloned_ref_to_slice_refs)] // `&[name.clone()]`: `name` moves into the operation
pub fn handle(d: &Arc<Daemon>, req: Request, stream: &mut UnixStream) -> Reply {
    let Some(segments) = req.segments() else { return err(400, "bad percent-encoding in the path") };
    let (i, p) = match find(&req.method, &segments) {
        Ok(x) => x,
        Err(405) => return err(405, format!("{} is not allowed on {}", req.method, req.path)),
        Err(_) => return err(404, format!("no route {} {}; see doc/openapi.yaml", req.method, req.path)),
    };
    let m = &d.manager;
    let q = |k: &str| req.query(k).map(str::to_owned);
    let flag = |k: &str| matches!(req.query(k), Some("1" | "true" | "yes"));
    let r: Result<Reply, Reply> = (|| {
        Ok(match ROUTES[i] {
            ("GET", "/1.0") => ok(json!({"api": "1.0", "version": env!("CARGO_PKG_VERSION"), "pid": std::process::id(), "operations": d.ops.running()})),
            ("POST", "/1.0/shutdown") => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Shutdown {}
                if !req.body.is_empty() {
                    let _: Shutdown = body(&req)?;
                }
                let d2 = d.clone();
                spawn(d, "shutdown", &[], move || super::boot::shutdown(&d2).map(|stopped| json!({"stopped": stopped})))?
            }
            ("GET", "/1.0/containers") => m.list().map(ok).unwrap_or_else(merr),
            ("POST", "/1.0/containers") => {
                let b: api::ContainersPost = body(&req)?;
                m.check_name(&b.name).map_err(merr)?;
                let name = b.name.clone();
                let desc = match (&b.image, b.start) {
                    (Some(i), true) => format!("launch {i} {name}"),
                    (Some(i), false) => format!("create {name} from {i}"),
                    _ => format!("create {name}"),
                };
                let d2 = d.clone();
                spawn(d, &desc, &[name.clone()], move || {
                    let r = if b.start { d2.manager.launch(&b) } else { d2.manager.create(&b) };
                    let (c, notes) = r.map_err(|e| crate::manager::chain(&e))?;
                    d2.lifecycle("container-created", &name);
                    if b.start {
                        d2.lifecycle("container-started", &name);
                    }
                    Ok(json!({"container": c, "notes": notes}))
                })?
            }
            ("GET", "/1.0/containers/{name}") | ("GET", "/1.0/containers/{name}/state") => {
                let r = match q("interval").map(|s| s.parse::<f64>()) {
                    Some(Ok(s)) if (0.0..=60.0).contains(&s) => m.info_sampled(&p[0], Duration::from_secs_f64(s)),
                    Some(_) => return Err(err(400, "interval: seconds between 0 and 60")),
                    None => m.info(&p[0]),
                };
                r.map(ok).unwrap_or_else(merr)
            }
            ("PUT", "/1.0/containers/{name}") => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Put {
                    config: BTreeMap<String, String>,
                }
                let b: Put = body(&req)?;
                let name = p[0].clone();
                m.check_name(&name).map_err(merr)?;
                let d2 = d.clone();
                // Read and replaced inside an operation: nothing else changes it meanwhile.
                sync_op(d, &format!("config replace {name}"), &name.clone(), move || {
                    let cur = d2.manager.info(&name).map_err(|e| (status_of(&e), crate::manager::chain(&e)))?;
                    let patch = api::ConfigPatch { unset: cur.config.keys().filter(|k| !b.config.contains_key(*k)).cloned().collect(), set: b.config };
                    d2.manager.update_config(&name, &patch).map(|c| json!(c)).map_err(|e| (status_of(&e), crate::manager::chain(&e)))
                })?
            }
            ("PATCH", "/1.0/containers/{name}") => {
                let b: api::ConfigPatch = body(&req)?;
                let name = p[0].clone();
                m.check_name(&name).map_err(merr)?;
                let d2 = d.clone();
                sync_op(d, &format!("config {name}"), &name.clone(), move || {
                    d2.manager.update_config(&name, &b).map(|c| json!(c)).map_err(|e| (status_of(&e), crate::manager::chain(&e)))
                })?
            }
            ("DELETE", "/1.0/containers/{name}") => {
                let (name, force) = (p[0].clone(), flag("force"));
                m.check_name(&name).map_err(merr)?;
                let d2 = d.clone();
                spawn(d, &format!("delete {name}"), &[name.clone()], move || {
                    d2.manager.delete(&name, force).map_err(|e| crate::manager::chain(&e))?;
                    d2.lifecycle("container-deleted", &name);
                    Ok(Value::Null)
                })?
            }
            ("PUT", "/1.0/containers/{name}/state") => {
                let b: api::StatePut = body(&req)?;
                let name = p[0].clone();
                m.check_name(&name).map_err(merr)?;
                let timeout = match b.timeout.unwrap_or(30) {
                    t @ 0..=86400 => Duration::from_secs(t),
                    _ => return Err(err(400, "timeout: seconds, at most 86400")),
                };
                let d2 = d.clone();
                let action = b.action.clone();
                if !["start", "stop", "restart", "freeze", "unfreeze"].contains(&action.as_str()) {
                    return Err(err(400, format!("action {action:?}: use start, stop, restart, freeze or unfreeze")));
                }
                spawn(d, &format!("{action} {name}"), &[name.clone()], move || {
                    let m = &d2.manager;
                    let chain = |e: MError| crate::manager::chain(&e);
                    let warnings = match action.as_str() {
                        "start" => m.start(&name).map_err(chain)?,
                        "stop" => m.stop(&name, timeout, b.force).map(|()| vec![]).map_err(chain)?,
                        "restart" => m.restart(&name, timeout, b.force).map_err(chain)?,
                        "freeze" => m.freeze(&name, true).map(|()| vec![]).map_err(chain)?,
                        _ => m.freeze(&name, false).map(|()| vec![]).map_err(chain)?,
                    };
                    let ev = match action.as_str() {
                        "start" => vec!["container-started"],
                        "stop" => vec!["container-stopped"],
                        "restart" => vec!["container-stopped", "container-started"],
                        "freeze" => vec!["container-frozen"],
                        _ => vec!["container-thawed"],
                    };
                    for e in ev {
                        d2.lifecycle(e, &name);
                    }
                    Ok(json!({"warnings": warnings}))
                })?
            }
            ("POST", "/1.0/containers/{name}/exec") => {
                let b: api::ExecPost = body(&req)?;
                d.not_busy(&p[0])?;
                attach::exec(d, &p[0], &b, &req, stream);
                Reply::Done
            }
            ("GET", "/1.0/containers/{name}/console") => {
                let escape = q("escape").and_then(|e| e.parse::<u8>().ok()).filter(|e| (1..=26).contains(e)).unwrap_or(1);
                attach::console(d, &p[0], escape, flag("replay"), &req, stream);
                Reply::Done
            }
            ("GET", "/1.0/containers/{name}/log") => m.console_log(&p[0]).map(Reply::Bytes).unwrap_or_else(merr),
            ("GET", "/1.0/images") => m.image_list().map(ok).unwrap_or_else(merr),
            ("POST", "/1.0/images") => {
                let b: api::ImagesPost = body(&req)?;
                let d2 = d.clone();
                spawn(d, "image import", &[], move || d2.manager.image_import(&b).map(|i| json!(i)).map_err(|e| crate::manager::chain(&e)))?
            }
            ("POST", "/1.0/images/build") => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Build {
                    name: String,
                }
                let b: Build = body(&req)?;
                let d2 = d.clone();
                spawn(d, &format!("image build {}", b.name), &[], move || {
                    d2.manager.image_build(&b.name).map(|(i, notes)| json!({"image": i, "notes": notes})).map_err(|e| crate::manager::chain(&e))
                })?
            }
            ("GET", "/1.0/images/aliases") => m.image_aliases().map(ok).unwrap_or_else(merr),
            ("POST", "/1.0/images/aliases") => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Alias {
                    name: String,
                    target: String,
                }
                let b: Alias = body(&req)?;
                m.image_alias_add(&b.name, &b.target).map(ok).unwrap_or_else(merr)
            }
            ("DELETE", "/1.0/images/aliases/{alias}") => m.image_alias_remove(&p[0]).map(ok).unwrap_or_else(merr),
            ("GET", "/1.0/images/{name}") => m.image_info(&p[0]).map(ok).unwrap_or_else(merr),
            ("DELETE", "/1.0/images/{name}") => m.image_delete(&p[0]).map(|fp| ok(json!({"fingerprint": fp}))).unwrap_or_else(merr),
            ("POST", "/1.0/images/{name}/export") => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Export {
                    dir: String,
                }
                let b: Export = body(&req)?;
                m.image_export(&p[0], std::path::Path::new(&b.dir)).map(|f| ok(json!({"files": f}))).unwrap_or_else(merr)
            }
            ("GET", "/1.0/doctor") => ok(m.doctor()),
            ("GET", "/1.0/remotes") => m.remote_list().map(ok).unwrap_or_else(merr),
            ("POST", "/1.0/remotes") => {
                let b: api::Remote = body(&req)?;
                let proto = (!b.protocol.is_empty()).then_some(b.protocol.as_str());
                m.remote_add(&b.name, &b.url, proto).map(ok).unwrap_or_else(merr)
            }
            ("DELETE", "/1.0/remotes/{name}") => m.remote_remove(&p[0]).map(ok).unwrap_or_else(merr),
            ("GET", "/1.0/networks") => m.network_list().map(ok).unwrap_or_else(merr),
            ("POST", "/1.0/networks") => {
                let b: api::NetworksPost = body(&req)?;
                m.network_create(&b).map(|(n, w)| ok(json!({"network": n, "warnings": w}))).unwrap_or_else(merr)
            }
            ("GET", "/1.0/networks/{name}") => m.network_show(&p[0]).map(ok).unwrap_or_else(merr),
            ("PATCH", "/1.0/networks/{name}") => {
                let b: api::NetworkPatch = body(&req)?;
                m.network_set(&p[0], &b.key, &b.value).map(|(n, w)| ok(json!({"network": n, "warnings": w}))).unwrap_or_else(merr)
            }
            ("DELETE", "/1.0/networks/{name}") => m.network_delete(&p[0]).map(ok).unwrap_or_else(merr),
            ("GET", "/1.0/events") => {
                super::stream_events(d, stream);
                Reply::Done
            }
            ("GET", "/1.0/operations") => ok(d.ops.list()),
            ("GET", "/1.0/operations/{id}") => d.ops.get(&p[0]).map(ok).unwrap_or_else(|| err(404, format!("no operation {}", p[0]))),
            ("GET", "/1.0/operations/{id}/wait") => {
                let t = q("timeout").and_then(|t| t.parse::<u64>().ok()).unwrap_or(3600).min(86400);
                d.ops.wait(&p[0], Duration::from_secs(t)).map(ok).unwrap_or_else(|| err(404, format!("no operation {}", p[0])))
            }
            ("DELETE", "/1.0/operations/{id}") => match d.ops.cancel(&p[0]) {
                None => err(404, format!("no operation {}", p[0])),
                Some(false) => err(409, format!("operation {} has finished", p[0])),
                Some(true) => ok(json!({"cancelling": p[0]})),
            },
            (m, path) => err(500, format!("route {m} {path} has no handler (a bug in sysctr)")),
        })
    })();
    r.unwrap_or_else(|e| e)
}

/// Run `work` as an operation holding `name` and answer with its result at once (quick
/// changes that must not interleave with an operation on the same container).
fn sync_op<F>(d: &Arc<Daemon>, description: &str, name: &str, work: F) -> Result<Reply, Reply>
where
    F: FnOnce() -> Result<Value, (u16, String)> + Send + 'static,
{
    let status = Arc::new(std::sync::Mutex::new(500u16));
    let s2 = status.clone();
    let op = d
        .ops
        .spawn(description, &[name.to_owned()], move || {
            work().map_err(|(code, m)| {
                *s2.lock().unwrap_or_else(|p| p.into_inner()) = code;
                m
            })
        })
        .map_err(|super::ops::Busy(other)| busy(&other))?;
    let done = d.ops.wait(&op.id, Duration::from_secs(86400)).ok_or_else(|| err(500, "the operation vanished"))?;
    Ok(match done.status {
        api::OperationStatus::Success => Reply::Json(200, done.result.unwrap_or(Value::Null)),
        _ => Reply::Error(*status.lock().unwrap_or_else(|p| p.into_inner()), done.error.unwrap_or_default(), None),
    })
}

/// Start an operation, or the 409 that names the one in the way.
#[allow(clippy::cloned_ref_to_slice_refs)] // callers pass `&[name.clone()]`: `name` moves into `work`
fn spawn<F>(d: &Arc<Daemon>, description: &str, containers: &[String], work: F) -> Result<Reply, Reply>
where
    F: FnOnce() -> Result<Value, String> + Send + 'static,
{
    d.ops.spawn(description, containers, work).map(|op| Reply::Op(Box::new(op))).map_err(|super::ops::Busy(other)| busy(&other))
}

pub fn busy(other: &api::Operation) -> Reply {
    Reply::Error(
        409,
        format!("{} is busy: operation {} ({}) is in progress; wait for it (`GET /1.0/operations/{}/wait`)", other.containers.join(", "), other.id, other.description, other.id),
        Some(other.id.clone()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        p.trim_matches('/').split('/').map(str::to_owned).collect()
    }

    #[test]
    fn routes_match_literals_before_patterns() {
        assert_eq!(find("POST", &segs("/1.0/images/build")).unwrap().0, ROUTES.iter().position(|r| r.1 == "/1.0/images/build").unwrap());
        let (i, p) = find("GET", &segs("/1.0/images/debian")).unwrap();
        assert_eq!((ROUTES[i].1, p[0].as_str()), ("/1.0/images/{name}", "debian"));
        assert_eq!(find("PATCH", &segs("/1.0/operations")), Err(405));
        assert_eq!(find("GET", &segs("/2.0/containers")), Err(404));
        assert_eq!(find("GET", &segs("/1.0/containers/a/b/c")), Err(404));
    }
}
