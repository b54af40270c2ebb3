//! Where a run ran: recorded in `run.json` and `model.json` so a figure can be read against
//! its machine (a rate on a loaded 2-core runner is not one on an idle workstation).

use std::path::Path;

/// The machine and build a run ran on. Every field is what could be read; none is required.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Environment {
    /// faultline's version.
    pub faultline_version: String,
    /// The commit checked out where faultline ran (`git rev-parse HEAD`), if in a repository.
    pub git_commit: Option<String>,
    /// `uname -srm`.
    pub kernel: Option<String>,
    /// Where trial directories were made, and the type of file system there (`ext4`,
    /// `tmpfs`, `overlayfs`, ...; a hex magic number when unknown).
    pub temp_dir: String,
    /// The file system type of `temp_dir`.
    pub file_system: Option<String>,
    /// CPUs this process may run on.
    pub cpus: Option<usize>,
    /// The 1, 5 and 15 minute load averages when the report was written.
    pub load: Option<[f64; 3]>,
}

/// The name of a file system type by its `statfs` magic number.
fn fs_name(magic: i64) -> String {
    match magic {
        0xEF53 => "ext4".into(),
        0x0102_1994 => "tmpfs".into(),
        0x9123_683E => "btrfs".into(),
        0x5846_5342 => "xfs".into(),
        0x794C_7630 => "overlayfs".into(),
        0x6573_5546 => "fuse".into(),
        0x2FC1_2FC1 => "zfs".into(),
        0x6969 => "nfs".into(),
        0xF2F5_2010 => "f2fs".into(),
        other => format!("{other:#x}"),
    }
}

impl Environment {
    /// Reads the environment now; `temp_dir` is where trials ran (the system's temp
    /// directory when `None`).
    pub fn capture(temp_dir: Option<&Path>) -> Self {
        let temp = temp_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let uname = rustix::system::uname();
        let kernel = format!(
            "{} {} {}",
            uname.sysname().to_string_lossy(),
            uname.release().to_string_lossy(),
            uname.machine().to_string_lossy()
        );
        // `f_type`'s width differs between architectures; the magic numbers fit in an i64.
        #[allow(clippy::useless_conversion)]
        let file_system = rustix::fs::statfs(&temp)
            .ok()
            .map(|s| fs_name(i64::from(s.f_type)));
        let load = std::fs::read_to_string("/proc/loadavg").ok().and_then(|text| {
            let v: Vec<f64> = text
                .split_whitespace()
                .take(3)
                .filter_map(|w| w.parse().ok())
                .collect();
            (v.len() == 3).then(|| [v[0], v[1], v[2]])
        });
        let git_commit = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()));
        Environment {
            faultline_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit,
            kernel: Some(kernel),
            temp_dir: temp.display().to_string(),
            file_system,
            cpus: std::thread::available_parallelism().ok().map(usize::from),
            load,
        }
    }

    /// One line for a page or a terminal.
    pub fn line(&self) -> String {
        let mut parts = vec![format!("faultline {}", self.faultline_version)];
        if let Some(c) = &self.git_commit {
            parts.push(format!("commit {}", c.chars().take(12).collect::<String>()));
        }
        if let Some(k) = &self.kernel {
            parts.push(k.clone());
        }
        parts.push(format!(
            "trials in {} ({})",
            self.temp_dir,
            self.file_system.as_deref().unwrap_or("file system unknown")
        ));
        if let Some(n) = self.cpus {
            parts.push(format!("{n} CPUs"));
        }
        if let Some([a, b, c]) = self.load {
            parts.push(format!("load {a:.2} {b:.2} {c:.2}"));
        }
        parts.join(", ")
    }
}
