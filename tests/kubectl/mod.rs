//! Finds the real `kubectl` for the fidelity tests. A missing kubectl fails the test with what to
//! do, unless `NIGHTSHIFT_SKIP_KUBECTL=1` says to skip on purpose — then the skip is printed
//! loudly, past the harness's output capture, so a green run that checked nothing is visible.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// `$NIGHTSHIFT_KUBECTL`, else `kubectl` on `PATH`, else `/usr/bin/kubectl`; `None` only when it
/// is absent and the skip is asked for.
pub fn kubectl(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("NIGHTSHIFT_KUBECTL")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("kubectl"))
                    .find(|p| p.is_file())
            })
        })
        .or_else(|| Some(PathBuf::from("/usr/bin/kubectl")))
        .filter(|p| p.is_file());
    if found.is_some() {
        return found;
    }
    if std::env::var("NIGHTSHIFT_SKIP_KUBECTL").as_deref() == Ok("1") {
        let _ = writeln!(
            std::io::stderr(),
            "!!!!!!!! SKIPPED `{test}`: no kubectl and NIGHTSHIFT_SKIP_KUBECTL=1 !!!!!!!!"
        );
        return None;
    }
    panic!(
        "`{test}` checks the simulated cluster and the executor against the real kubectl, and none \
         was found (NIGHTSHIFT_KUBECTL, PATH, /usr/bin/kubectl). Install kubectl, or set \
         NIGHTSHIFT_SKIP_KUBECTL=1 to skip these checks on purpose."
    );
}

/// The real kubectl pointed at one cluster, run off the async runtime.
pub struct Kubectl {
    path: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// kubectl at `path` with `kubeconfig`; its discovery cache beside the kubeconfig.
    pub fn new(path: PathBuf, kubeconfig: &std::path::Path) -> Kubectl {
        Kubectl {
            path,
            kubeconfig: kubeconfig.to_path_buf(),
            cache: kubeconfig.with_file_name("kubectl-cache"),
        }
    }

    /// Runs `kubectl args`.
    pub async fn run(&self, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(&self.path);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args);
        tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("join")
            .expect("kubectl runs")
    }

    /// Runs `kubectl args` and returns its stdout, failing the test on a non-zero exit.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kubectl {args:?} failed: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
