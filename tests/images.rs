//! Acceptance "images": `launch` builds Debian from the template once and reuses it; a local
//! HTTP server serves simplestreams and LXC-index trees the test makes; broken downloads
//! leave the store as it was; a catalogue of hostile tarballs is refused or neutralised
//! with the host untouched; export + import round-trips to the same fingerprint.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::host::*;
use common::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The test image server (tests/fixtures/image-server.py) on 127.0.0.1; killed on drop.
struct Server {
    child: Child,
    pub url: String,
    faults: PathBuf,
}

impl Server {
    fn start(root: &Path, dir: &Path) -> Server {
        let port_file = dir.join("port");
        let faults = dir.join("faults.json");
        std::fs::write(&faults, "{}").unwrap();
        let child = Command::new("python3")
            .arg(format!("{FIXTURES}/image-server.py"))
            .args(["serve"])
            .arg(root)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--faults")
            .arg(&faults)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
            .spawn()
            .unwrap();
        assert!(wait_for(Duration::from_secs(10), || port_file.exists()), "the image server did not start");
        let port = std::fs::read_to_string(&port_file).unwrap().trim().to_owned();
        Server { child, url: format!("http://127.0.0.1:{port}"), faults }
    }

    fn fault(&self, json: &str) {
        std::fs::write(&self.faults, json).unwrap();
    }

    /// GET counts by path.
    fn stats(&self) -> serde_json::Value {
        let out = Command::new("python3")
            .args(["-c", "import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"])
            .arg(format!("{}/_stats", self.url))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn gets(&self, suffix: &str) -> u64 {
        self.stats().as_object().unwrap().iter().filter(|(k, _)| k.ends_with(suffix)).map(|(_, v)| v.as_u64().unwrap()).sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

fn sh(cmd: &str) {
    let st = Command::new("sh").args(["-ec", cmd]).status().unwrap();
    assert!(st.success(), "{cmd}");
}

/// Incus metadata tarball for `os`/`release` with hostname and hosts templates.
fn meta_tarball(dir: &Path, os: &str, release: &str) -> PathBuf {
    let m = dir.join(format!("meta-{os}"));
    std::fs::create_dir_all(m.join("templates")).unwrap();
    std::fs::write(
        m.join("metadata.yaml"),
        format!(
            "architecture: x86_64\ncreation_date: 1764000000\nproperties:\n  os: {os}\n  release: \"{release}\"\n  description: {os} {release} test image\ntemplates:\n  /etc/hostname:\n    when: [create, copy]\n    template: hostname.tpl\n  /etc/hosts:\n    when: [create, start]\n    template: hosts.tpl\n"
        ),
    )
    .unwrap();
    std::fs::write(m.join("templates/hostname.tpl"), "{{ container.name }}\n").unwrap();
    std::fs::write(m.join("templates/hosts.tpl"), "127.0.0.1 localhost\n127.0.1.1 {{ instance.name }}\n").unwrap();
    let out = dir.join(format!("meta-{os}.tar.xz"));
    sh(&format!("tar -C {} -cJf {} metadata.yaml templates", m.display(), out.display()));
    out
}

/// A busybox rootfs as rootfs.tar.xz.
fn busybox_tarball(dir: &Path) -> PathBuf {
    let root = busybox_rootfs(&dir.join("bb"));
    let out = dir.join("busybox-rootfs.tar.xz");
    sh(&format!("tar -C {} --numeric-owner -cJf {} .", root.display(), out.display()));
    out
}

/// The cached Debian 12 fixture as a plain rootfs tarball (xattrs kept).
fn debian12_tarball(dir: &Path) -> PathBuf {
    let root = debian_rootfs("bookworm");
    let out = dir.join("debian12-rootfs.tar");
    sh(&format!(
        "tar -C {} --numeric-owner --xattrs --xattrs-include='*' --exclude=./.complete -cf {} .",
        root.display(),
        out.display()
    ));
    out
}

fn images_json(env: &Env) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&env.ok(&["image", "list", "--format", "json"])).unwrap().as_array().unwrap().clone()
}

/// The image store's content (the directory's own mtime aside: staging in it changes that).
fn store_snapshot(env: &Env) -> Vec<String> {
    let images = env.state.join("images");
    if images.exists() {
        tree_snapshot(&images).into_iter().skip(1).collect()
    } else {
        vec![]
    }
}

/// Equal snapshots, or a panic naming only the lines that differ.
fn assert_same(before: &[String], after: &[String], what: &str) {
    if before != after {
        let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l)).take(10).collect();
        let new: Vec<&String> = after.iter().filter(|l| !before.contains(l)).take(10).collect();
        panic!("{what}: the store changed\n gone: {gone:#?}\n new: {new:#?}");
    }
}

// ---------------------------------------------------------------------------------------
// 1. launch debian: the template build, once
// ---------------------------------------------------------------------------------------

#[test]
fn launch_debian_builds_from_the_template_once_and_reuses_it() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let (web1, web2) = (env.name("web1"), env.name("web2"));
    let out = env.cmd(&["launch", "debian", &web1]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "launch debian failed:\n{stderr}");
    assert!(stderr.contains("from the template"), "the fallback to the template is announced:\n{stderr}");
    assert!(stderr.contains("remote images"), "and why (the default remote did not answer):\n{stderr}");
    let (state, _) = env.wait_system_running(&web1, Duration::from_secs(60));
    assert_eq!(state, "running", "systemd in {web1}");
    assert_eq!(env.exec(&web1, &["cat", "/etc/hostname"]).1.trim(), web1, "the hostname template was rendered");
    assert!(env.exec(&web1, &["cat", "/etc/hosts"]).1.contains(&web1));
    assert!(env.exec(&web1, &["grep", "-q", "VERSION_ID=\"13\"", "/etc/os-release"]).0 == 0, "debian is Debian 13, the current stable");
    let imgs = images_json(&env);
    assert_eq!(imgs.len(), 1, "{imgs:?}");
    let fp = imgs[0]["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(imgs[0]["name"], "debian/13");
    assert!(imgs[0]["source"].as_str().unwrap().starts_with("template"));
    assert_eq!(env.info(&web1)["image"]["fingerprint"], fp.as_str());

    // The second launch reuses the image: no build, and quick.
    let t = Instant::now();
    let out = env.cmd(&["launch", "debian", &web2]).output().unwrap();
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "second launch failed:\n{stderr}");
    assert!(!stderr.contains("building"), "no second build:\n{stderr}");
    assert!(took < Duration::from_secs(20), "a cached launch took {took:?}");
    assert_eq!(images_json(&env).len(), 1);
    assert_eq!(env.info(&web2)["image"]["fingerprint"], fp.as_str());
    let (state, _) = env.wait_system_running(&web2, Duration::from_secs(60));
    assert_eq!(state, "running", "systemd in {web2}");
    // Each container has its own persistent rootfs.
    env.exec(&web2, &["sh", "-c", "echo mine > /root/file"]);
    assert_eq!(env.exec(&web1, &["test", "-e", "/root/file"]).0, 1);
    // `debian/13` names the same image.
    assert_eq!(env.ok(&["image", "info", "debian/13", "--format", "json"]).contains(&fp), true);

    // Export, delete, import: the same fingerprint (acceptance 5, for a built image).
    let exp = env.dir.join("export");
    let files: Vec<String> = env.ok(&["image", "export", "debian", exp.to_str().unwrap()]).lines().map(str::to_owned).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    env.ok(&["image", "delete", &fp[..12]]);
    assert!(images_json(&env).is_empty());
    // web1 keeps running: it has its own rootfs.
    assert_eq!(env.exec(&web1, &["true"]).0, 0);
    // In reverse order: the importer finds the metadata by content.
    let out = env.ok(&["image", "import", &files[1], &files[0], "--alias", "deb13"]);
    assert!(out.contains(&fp), "import gave another fingerprint: {out}");
    env.ok(&["stop", &web1]);
    env.ok(&["stop", &web2]);
}

// ---------------------------------------------------------------------------------------
// 2. remotes: simplestreams and the LXC index, from a local server
// ---------------------------------------------------------------------------------------

fn serve_tree(env: &Env, with_debian: bool) -> (Server, PathBuf, PathBuf) {
    let work = env.dir.join("srv");
    std::fs::create_dir_all(&work).unwrap();
    let bb_meta = meta_tarball(&work, "busybox", "1.36");
    let bb_root = busybox_tarball(&work);
    let tree = work.join("tree");
    let mut cmd = Command::new("python3");
    cmd.arg(format!("{FIXTURES}/image-server.py")).arg("build").arg(&tree);
    cmd.arg("--image").arg(format!("busybox:1.36:default:{}:{}:20261101_12:00", bb_meta.display(), bb_root.display()));
    if with_debian {
        let d_meta = meta_tarball(&work, "debian", "12");
        let d_root = debian12_tarball(&work);
        cmd.arg("--image").arg(format!("debian:12:default:{}:{}", d_meta.display(), d_root.display()));
        cmd.args(["--extra-alias", "debian/12=debian/bookworm"]);
    }
    let st = cmd.stdout(Stdio::null()).status().unwrap();
    assert!(st.success(), "building the server tree");
    (Server::start(&tree, &work), bb_meta, bb_root)
}

#[test]
fn remotes_serve_launchable_images_in_both_protocols() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let (srv, _, _) = serve_tree(&env, true);
    let out = env.ok(&["remote", "add", "testremote", &srv.url]);
    assert!(out.contains("simplestreams"), "protocol found out: {out}");
    assert!(env.ok(&["remote", "list"]).contains("testremote"));
    let (c1, c2, c3) = (env.name("c1"), env.name("c2"), env.name("c3"));

    env.ok(&["launch", "testremote:busybox", &c1]);
    assert_eq!(env.status(&c1), "RUNNING");
    assert_eq!(env.exec(&c1, &["cat", "/etc/hostname"]).1.trim(), c1);
    assert_eq!(env.info(&c1)["image"]["name"], "busybox/1.36");
    assert_eq!(srv.gets("rootfs.tar.xz"), 1);

    env.ok(&["launch", "testremote:debian/12", &c2]);
    let (state, _) = env.wait_system_running(&c2, Duration::from_secs(60));
    assert_eq!(state, "running", "systemd in {c2}");
    assert_eq!(env.exec(&c2, &["cat", "/etc/hostname"]).1.trim(), c2);
    let imgs = images_json(&env);
    assert_eq!(imgs.len(), 2, "{imgs:?}");

    // Cached: the same name again downloads nothing; an alias of the server resolves too.
    env.ok(&["launch", "testremote:busybox/1.36", &c3]);
    assert_eq!(srv.gets("rootfs.tar.xz"), 2, "one download per image");
    env.ok(&["delete", "--force", &c3]);
    // Local aliases and fingerprint prefixes.
    let bb_fp = imgs.iter().find(|i| i["name"] == "busybox/1.36").unwrap()["fingerprint"].as_str().unwrap().to_owned();
    env.ok(&["image", "alias", "add", "mybb", &bb_fp[..8]]);
    assert!(env.ok(&["image", "alias", "list"]).contains("mybb"));
    env.ok(&["create", &c3, "--image", "mybb"]);
    env.ok(&["delete", &c3]);
    env.ok(&["create", &c3, "--image", &bb_fp[..10]]);
    env.ok(&["delete", &c3]);
    env.ok(&["image", "alias", "remove", "mybb"]);
    let e = env.fails(&["create", &c3, "--image", "mybb"]);
    assert!(e.contains("mybb"), "{e}");

    // A name the remote lacks: say what it has.
    let e = env.fails(&["launch", "testremote:fedora/40", &c3]);
    assert!(e.contains("busybox/1.36") && e.contains("debian/12"), "{e}");
    let e = env.fails(&["launch", "nosuchremote:debian", &c3]);
    assert!(e.contains("nosuchremote") && e.contains("remote list"), "{e}");
    // A bad name fails before anything is downloaded.
    let before = srv.gets("");
    let e = env.fails(&["launch", "testremote:busybox", "Bad_Name"]);
    assert!(e.contains("invalid container name"), "{e}");
    assert_eq!(srv.gets(""), before, "nothing fetched for a bad name");

    // The LXC index protocol, into a fresh store.
    let env2 = Env::new();
    env2.ok(&["remote", "add", "testlxc", &srv.url, "--protocol", "lxc"]);
    let c4 = env2.name("c4");
    env2.ok(&["launch", "testlxc:busybox/1.36", &c4]);
    assert_eq!(env2.exec(&c4, &["cat", "/etc/hostname"]).1.trim(), c4);
    let lxc_fp = images_json(&env2)[0]["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(lxc_fp, bb_fp, "the same files give the same fingerprint in both protocols");
    env2.ok(&["remote", "remove", "testlxc"]);
    assert!(!env2.ok(&["remote", "list"]).contains("testlxc"));
}

// ---------------------------------------------------------------------------------------
// 3. broken downloads
// ---------------------------------------------------------------------------------------

#[test]
fn broken_downloads_fail_clearly_and_change_nothing() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let (srv, meta, root) = serve_tree(&env, false);
    env.ok(&["remote", "add", "t", &srv.url]);
    // Something in the store already: it must stay as it is.
    env.ok(&["image", "import", root.to_str().unwrap(), "--alias", "keep"]);
    let c = env.name("bad");
    for (fault, says) in [
        (r#"{"rootfs.tar.xz": "wrong"}"#, "sha256"),
        (r#"{"rootfs.tar.xz": "truncate"}"#, "bytes"),
        (r#"{"rootfs.tar.xz": "500"}"#, "500"),
        (r#"{"incus.tar.xz": "500"}"#, "500"),
    ] {
        srv.fault(fault);
        let before = store_snapshot(&env);
        let e = env.fails(&["launch", "t:busybox", &c]);
        assert!(e.contains(says), "{fault}: the error should say {says}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{fault}: one clear line: {e}");
        assert_same(&before, &store_snapshot(&env), fault);
        assert!(!env.state.join("containers").join(&c).exists(), "{fault}: a container was left");
        let leftovers: Vec<_> = std::fs::read_dir(env.state.join("images")).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with('.')).collect();
        assert!(leftovers.is_empty(), "{fault}: staging left behind: {leftovers:?}");
    }
    srv.fault("{}");
    env.ok(&["launch", "t:busybox", &c]);
    let _ = meta;
}

// ---------------------------------------------------------------------------------------
// 4. hostile tarballs
// ---------------------------------------------------------------------------------------

#[test]
fn hostile_tarballs_are_refused_or_neutralised() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let sentinel = make_sentinel(&env.dir.join("sentinel"));
    std::fs::write(sentinel.join("victim"), "victim\n").unwrap();
    let cat = env.dir.join("hostile");
    let st = Command::new("python3").arg(format!("{FIXTURES}/hostile-tars.py")).arg(&cat).arg(&sentinel).status().unwrap();
    assert!(st.success(), "generating the hostile catalogue");
    let catalogue: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(cat.join("catalogue.json")).unwrap()).unwrap();
    assert!(catalogue.len() >= 17, "{} cases", catalogue.len());
    let before = HostView::take(&sentinel);
    for (i, case) in catalogue.iter().enumerate() {
        let id = case["case"].as_str().unwrap();
        let mut args = vec!["image".to_owned(), "import".to_owned(), cat.join(case["rootfs"].as_str().unwrap()).display().to_string()];
        if let Some(m) = case["meta"].as_str() {
            args.push(cat.join(m).display().to_string());
        }
        args.extend(["--alias".to_owned(), format!("case{i}")]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let store_before = store_snapshot(&env);
        let t = Instant::now();
        let out = env.sysctr(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(t.elapsed() < Duration::from_secs(30), "{id}: took {:?}", t.elapsed());
        match case["expect"].as_str().unwrap() {
            "refused" => {
                assert!(!out.status.success(), "{id}: imported, but must be refused");
                assert!(stderr.starts_with("Error: ") && stderr.contains("refus") || stderr.contains("truncated") || stderr.contains("xz"), "{id}: a clear error: {stderr}");
                assert_same(&store_before, &store_snapshot(&env), id);
            }
            _ => {
                assert!(out.status.success(), "{id}: must import (neutralised): {stderr}");
                let info: serde_json::Value = serde_json::from_str(&env.ok(&["image", "info", &format!("case{i}"), "--format", "json"])).unwrap();
                let rootfs = env.state.join("images").join(info["fingerprint"].as_str().unwrap()).join("rootfs");
                for p in case["absent"].as_array().unwrap() {
                    assert!(std::fs::symlink_metadata(rootfs.join(p.as_str().unwrap())).is_err(), "{id}: {p} must not be unpacked");
                }
                for p in case["present"].as_array().unwrap() {
                    check_present(id, &rootfs, p);
                }
                // Create (and try to start) a container: the image's templates render.
                let name = env.name(&format!("h{i}"));
                let out = env.sysctr(&["create", &name, "--image", &format!("case{i}")]);
                assert!(out.status.success(), "{id}: create: {}", String::from_utf8_lossy(&out.stderr));
                let _ = env.sysctr(&["start", &name]);
                let _ = env.sysctr(&["delete", "--force", &name]);
            }
        }
        before.assert_unchanged(&HostView::take(&sentinel), id);
    }
    // With /etc a symlink to /, the template landed inside the rootfs, at its /hostname.
    let idx = catalogue.iter().position(|c| c["case"] == "etc-symlink-root").unwrap();
    let name = env.name(&format!("h{idx}x"));
    env.ok(&["create", &name, "--image", &format!("case{idx}")]);
    assert_eq!(std::fs::read_to_string(env.state.join("containers").join(&name).join("rootfs/hostname")).unwrap().trim(), name);
    // A hostname symlink pointing out is replaced by the rendered file, not followed.
    let idx = catalogue.iter().position(|c| c["case"] == "hostname-symlink-out").unwrap();
    let name = env.name(&format!("h{idx}y"));
    env.ok(&["create", &name, "--image", &format!("case{idx}")]);
    let hn = env.state.join("containers").join(&name).join("rootfs/etc/hostname");
    assert!(std::fs::symlink_metadata(&hn).unwrap().file_type().is_file());
    before.assert_unchanged(&HostView::take(&sentinel), "after rendering");
}

fn check_present(id: &str, rootfs: &Path, p: &serde_json::Value) {
    use std::os::unix::fs::MetadataExt;
    let path = rootfs.join(p["path"].as_str().unwrap());
    let m = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{id}: {} missing: {e}", path.display()));
    if let Some(mode) = p["mode"].as_u64() {
        assert_eq!(m.mode() & 0o7777, mode as u32, "{id}: mode of {}", path.display());
    }
    if let Some(uid) = p["uid"].as_u64() {
        assert_eq!(m.uid(), uid as u32, "{id}: uid of {}", path.display());
    }
    if let Some(gid) = p["gid"].as_u64() {
        assert_eq!(m.gid(), gid as u32, "{id}: gid of {}", path.display());
    }
    if let Some(c) = p["content"].as_str() {
        assert_eq!(std::fs::read_to_string(&path).unwrap(), c, "{id}: content of {}", path.display());
    }
    if let Some(x) = p["xattr"].as_object() {
        for (k, hexv) in x {
            let out = Command::new("getfattr").args(["--absolute-names", "-e", "hex", "-n", k]).arg(&path).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains(&format!("0x{}", hexv.as_str().unwrap().replace(' ', ""))), "{id}: xattr {k} of {}: {text}", path.display());
        }
    }
}

// ---------------------------------------------------------------------------------------
// 5. import / export round trip
// ---------------------------------------------------------------------------------------

#[test]
fn import_export_round_trips_to_the_same_fingerprint() {
    if !require_root() {
        return;
    }
    let env = Env::new();
    let work = env.dir.join("w");
    std::fs::create_dir_all(&work).unwrap();
    let meta = meta_tarball(&work, "busybox", "1.36");
    let root = busybox_tarball(&work);
    // An Incus split pair (rootfs first, as the issue words it), and a bare rootfs.
    let fp1 = env.ok(&["image", "import", root.to_str().unwrap(), meta.to_str().unwrap(), "--alias", "bb"]).split_whitespace().nth(1).unwrap().to_owned();
    // gzip and zstd rootfs tarballs import too.
    let gz = work.join("r.tar.gz");
    sh(&format!("xz -dc {} | gzip -1 > {}", root.display(), gz.display()));
    let fp2 = env.ok(&["image", "import", gz.to_str().unwrap()]).split_whitespace().nth(1).unwrap().to_owned();
    assert_ne!(fp1, fp2);
    for fp in [&fp1, &fp2] {
        let exp = env.dir.join(format!("exp-{}", &fp[..6]));
        let files: Vec<String> = env.ok(&["image", "export", &fp[..12], exp.to_str().unwrap()]).lines().map(str::to_owned).collect();
        env.ok(&["image", "delete", fp]);
        let mut args = vec!["image", "import"];
        args.extend(files.iter().map(String::as_str));
        let again = env.ok(&args);
        assert!(again.contains(fp.as_str()), "round trip of {fp}: {again}");
    }
    // The alias went with the deleted image; a duplicate alias is refused on import.
    assert!(env.fails(&["image", "info", "bb"]).contains("bb"));
    env.ok(&["image", "alias", "add", "bb", &fp1[..12]]);
    let e = env.fails(&["image", "import", root.to_str().unwrap(), "--alias", "bb"]);
    assert!(e.contains("already"), "{e}");
    // Bad input: a missing file, three files, a bad alias.
    assert!(env.fails(&["image", "import", "/nonexistent.tar"]).contains("not a file"));
    assert!(env.fails(&["image", "import", root.to_str().unwrap(), "--alias", "../x"]).contains("invalid alias"));
    // LXC's download pair: meta.tar.xz with `config` and `templates` (files of the rootfs in
    // which LXC_NAME is replaced at create), in either order.
    let lxc = work.join("lxcmeta");
    std::fs::create_dir_all(&lxc).unwrap();
    std::fs::write(lxc.join("config"), "lxc.include = LXC_TEMPLATE_CONFIG/common.conf\n").unwrap();
    std::fs::write(lxc.join("templates"), "/etc/hostname\n/etc/motd\n").unwrap();
    std::fs::write(lxc.join("create-message"), "hello from the image\n").unwrap();
    let lroot = busybox_rootfs(&work.join("lxcbb"));
    std::fs::write(lroot.join("etc/hostname"), "LXC_NAME\n").unwrap();
    std::fs::write(lroot.join("etc/motd"), "Welcome to LXC_NAME.\n").unwrap();
    let (lmeta, lrootfs) = (work.join("lxc-meta.tar.xz"), work.join("lxc-rootfs.tar.gz"));
    sh(&format!("tar -C {} -cJf {} config templates create-message", lxc.display(), lmeta.display()));
    sh(&format!("tar -C {} --numeric-owner -czf {} .", lroot.display(), lrootfs.display()));
    env.ok(&["image", "import", lmeta.to_str().unwrap(), lrootfs.to_str().unwrap(), "--alias", "lxcbb"]);
    let lc = env.name("lxcpair");
    env.ok(&["create", &lc, "--image", "lxcbb"]);
    let lr = env.state.join("containers").join(&lc).join("rootfs");
    assert_eq!(std::fs::read_to_string(lr.join("etc/hostname")).unwrap().trim(), lc);
    assert_eq!(std::fs::read_to_string(lr.join("etc/motd")).unwrap().trim(), format!("Welcome to {lc}."));
    env.ok(&["delete", &lc]);
    // Launch from an imported image (templates rendered at create).
    let c = env.name("imp");
    env.ok(&["launch", "bb", &c]);
    assert_eq!(env.exec(&c, &["cat", "/etc/hostname"]).1.trim(), c);
    let list = env.ok(&["list"]);
    assert!(list.contains("busybox/1.36"), "list shows the image: {list}");
}
