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
    port: u16,
    /// With TLS: the server also listens on 127.0.0.1:`port` with a certificate for
    /// `localhost` signed by this test CA (PEM).
    pub tls_ca: Option<PathBuf>,
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
        Self::start_with(false)
    }

    /// Like [`Pg::start`], also serving TLS on 127.0.0.1 (certificate for `localhost` from a
    /// throwaway CA, made with the `openssl` CLI); `tls_ca` is the CA and `tcp_url` the URL.
    pub fn start_tls() -> Option<Pg> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Option<Pg> {
        let Some(bin) = bin_dir() else {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is not installed (scripts/setup.sh test installs `postgresql`)");
            }
            eprintln!("SKIP: PostgreSQL (initdb) not installed; run scripts/setup.sh test");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("verity-pg")
            .tempdir()
            .unwrap();
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
        let port = if tls {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        } else {
            5432
        };
        let tls_ca = tls.then(|| make_certs(dir.path(), user.is_some()));
        let pg = Pg {
            url: format!(
                "postgresql:///postgres?host={}&port={port}&user=verity",
                sock.display()
            ),
            _dir: dir,
            data,
            sock,
            bin,
            user,
            port,
            tls_ca,
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
        let mut opts = format!(
            "-k {} -p {} -c fsync=off -c max_connections=60",
            self.sock.display(),
            self.port
        );
        match &self.tls_ca {
            Some(ca) => {
                let d = ca.parent().unwrap();
                opts.push_str(&format!(
                    " -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                    d.join("server.pem").display(),
                    d.join("server.key").display()
                ));
            }
            None => opts.push_str(" -c listen_addresses=''"),
        }
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
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// `postgresql://verity@localhost:<port>/<db>?sslmode=…` over TCP (TLS servers only).
    pub fn tcp_url(&self, db: &str, sslmode: &str) -> String {
        format!(
            "postgresql://verity@localhost:{}/{db}?sslmode={sslmode}",
            self.port
        )
    }

    /// Creates database `name` and returns its URL.
    pub fn database(&self, name: &str) -> String {
        let admin = verity::store::db::PgConn::connect(&self.url).expect("connect to postgres");
        let db = verity::store::db::Db::Pg(admin);
        use verity::store::db::Exec;
        db.execute_batch(&format!("CREATE DATABASE {name}"))
            .unwrap();
        self.url.replacen("/postgres?", &format!("/{name}?"), 1)
    }

    pub fn socket_dir(&self) -> &Path {
        &self.sock
    }
}

/// A CA and a `localhost` server certificate signed by it, in `dir/tls/`; returns the CA's path.
fn make_certs(dir: &Path, as_postgres: bool) -> PathBuf {
    let d = dir.join("tls");
    std::fs::create_dir_all(&d).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&d)
            .output()
            .expect("the openssl CLI makes the test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=verity-test-ca",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    std::fs::set_permissions(d.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    if as_postgres {
        for f in ["server.key", "server.pem"] {
            chown_postgres(&d.join(f));
        }
        chown_postgres(&d);
    }
    d.join("ca.pem")
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
            .args([
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Opens the store a suite function runs on: SQLite in the folder, or PostgreSQL.
pub type Opener<'a> = &'a dyn Fn(&Path) -> verity::store::Store;

/// Runs `suite` on SQLite, then on a fresh database `name` of a throwaway PostgreSQL (where
/// installed; a SKIP line otherwise).
pub fn both(name: &str, suite: impl Fn(Opener)) {
    suite(&|dir: &Path| verity::store::Store::open(dir).unwrap());
    if let Some(pg) = Pg::start() {
        let url = pg.database(name);
        suite(&|dir: &Path| verity::store::Store::open_postgres(&url, dir).unwrap());
    }
}
