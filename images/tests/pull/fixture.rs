//! Starts the two test registries (plain and basic-auth) once per test binary with the project's
//! scripts, pushes the test images, and stops the registries when the test process exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use images::{Credentials, ImageRef, ImageService, Keyring, RegistryOptions};

pub struct Registries {
    pub dir: PathBuf,
    pub plain: String,
    pub auth: String,
    pub password: String,
}

const TOOLS: &[&str] = &["/usr/bin/docker-registry", "/usr/bin/skopeo", "/usr/bin/umoci", "/bin/busybox", "/usr/bin/htpasswd", "/usr/bin/curl"];

fn infra(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/infra").join(script)
}

/// The registries, or `None` (with the reason printed) when the tools are missing outside CI.
pub fn registries() -> Option<&'static Registries> {
    static ONCE: OnceLock<Option<Registries>> = OnceLock::new();
    ONCE.get_or_init(|| {
        let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !Path::new(t).exists()).collect();
        if !missing.is_empty() {
            let reason = format!("missing {missing:?}: run tests/infra/install-deps.sh");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{reason}");
            }
            eprintln!("SKIP registry tests: {reason}");
            return None;
        }
        Some(start())
    })
    .as_ref()
}

fn start() -> Registries {
    let dir = std::env::temp_dir().join(format!("wasmkube-images-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create registry dir");
    run(Command::new(infra("registry.sh")).arg("start").arg(&dir));
    // The registries must not outlive this test process: a detached watcher stops them after it.
    let watcher = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.3; done; '{script}' stop '{dir}'; rm -rf '{dir}'",
        pid = std::process::id(),
        script = infra("registry.sh").display(),
        dir = dir.display()
    );
    // `setsid` forks the watcher into its own session and exits at once; reap that parent.
    let mut launcher = Command::new("setsid").args(["--fork", "sh", "-c", &watcher]).spawn().expect("spawn registry watcher");
    launcher.wait().expect("wait for setsid");
    run(Command::new(infra("build-test-images.sh")).arg(&dir));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect(f).trim().to_owned();
    Registries { plain: read("plain.addr"), auth: read("auth.addr"), password: read("auth.password"), dir }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run test infra script");
    assert!(out.status.success(), "{cmd:?} failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

impl Registries {
    pub fn image(&self, name: &str) -> ImageRef {
        format!("{}/{name}", self.plain).parse().expect("test image ref")
    }

    pub fn auth_image(&self, name: &str) -> ImageRef {
        format!("{}/{name}", self.auth).parse().expect("test image ref")
    }

    /// Options that may use both registries over plain HTTP.
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions { insecure: vec![self.plain.clone(), self.auth.clone()], ..Default::default() }
    }

    /// A fresh, empty image store that may use both registries.
    pub fn store(&self) -> (tempfile::TempDir, ImageService) {
        let data = tempfile::tempdir().expect("tempdir");
        let service = ImageService::open(data.path(), self.options()).expect("open image store");
        (data, service)
    }

    pub fn keys(&self, password: &str) -> Keyring {
        let mut keys = Keyring::default();
        keys.insert(&self.auth, Credentials::Basic { username: "tester".into(), password: password.into() });
        keys
    }
}

/// Skips the test (returning) when the registries cannot run here.
macro_rules! registries_or_skip {
    () => {
        match crate::fixture::registries() {
            Some(r) => r,
            None => return,
        }
    };
}
pub(crate) use registries_or_skip;
