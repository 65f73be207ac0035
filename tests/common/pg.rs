//! A throwaway PostgreSQL server for tests: `initdb` + `pg_ctl` from Debian's `postgresql`
//! package (installed by `scripts/setup.sh test`), listening only on a Unix socket in a
//! temporary folder, removed when dropped. As root (CI containers) the server runs as the
//! `postgres` user, which `initdb` requires.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Pg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    sock: PathBuf,
    bin: PathBuf,
    user: Option<&'static str>,
    pub url: String,
}

/// The PostgreSQL programs' folder (`pg_config --bindir`, else the newest Debian one).
fn bin_dir() -> Option<PathBuf> {
    if let Ok(o) = Command::new("pg_config").arg("--bindir").output() {
        let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if p.join("initdb").exists() {
            return Some(p);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Pg {
    /// Starts a server, or `None` (printing a visible SKIP) where PostgreSQL is not installed
    /// outside CI. In CI (`CI` set) a missing PostgreSQL fails the test.
    pub fn start() -> Option<Pg> {
        let Some(bin) = bin_dir() else {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is not installed (scripts/setup.sh test installs `postgresql`)");
            }
            eprintln!("SKIP: PostgreSQL (initdb) not installed; run scripts/setup.sh test");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("verity-pg").tempdir().unwrap();
        let user = if is_root() { Some("postgres") } else { None };
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir_all(&sock).unwrap();
        if user.is_some() {
            // The server runs as `postgres`: it needs the folder (0700 from tempfile) as its own.
            for p in [dir.path(), sock.as_path()] {
                chown_postgres(p);
            }
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let pg = Pg {
            url: format!(
                "postgresql:///postgres?host={}&port=5432&user=verity",
                sock.display()
            ),
            _dir: dir,
            data,
            sock,
            bin,
            user,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                pg.data.to_str().unwrap(),
                "-U",
                "verity",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.start_server();
        Some(pg)
    }

    fn command(&self, prog: &str) -> Command {
        let exe = self.bin.join(prog);
        match self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn run(&self, prog: &str, args: &[&str]) {
        let out = self
            .command(prog)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
        assert!(
            out.status.success(),
            "{prog} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl start`, waiting until the server accepts connections.
    pub fn start_server(&self) {
        let opts = format!(
            "-c listen_addresses='' -k {} -p 5432 -c fsync=off -c max_connections=60",
            self.sock.display()
        );
        let log = self.data.parent().unwrap().join("server.log");
        if self.user.is_some() && !log.exists() {
            std::fs::write(&log, b"").unwrap();
            chown_postgres(&log);
        }
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// `pg_ctl stop -m fast`: ends every connection (what a restart does to clients).
    pub fn stop_server(&self) {
        self.run(
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-m", "fast", "-w", "stop"],
        );
    }

    /// Creates database `name` and returns its URL.
    pub fn database(&self, name: &str) -> String {
        let admin = verity::store::db::PgConn::connect(&self.url).expect("connect to postgres");
        let db = verity::store::db::Db::Pg(admin);
        use verity::store::db::Exec;
        db.execute_batch(&format!("CREATE DATABASE {name}")).unwrap();
        self.url.replacen("/postgres?", &format!("/{name}?"), 1)
    }

    pub fn socket_dir(&self) -> &Path {
        &self.sock
    }
}

fn chown_postgres(p: &Path) {
    let st = Command::new("chown")
        .arg("postgres:postgres")
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success(), "chown postgres {}", p.display());
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
