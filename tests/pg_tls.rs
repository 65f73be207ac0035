//! A PostgreSQL store over TLS: the server certificate is checked (a private CA is trusted only
//! through `VERITY_PG_CA`), `sslmode=require` refuses to go on without TLS, and the session the
//! store opens really is encrypted. Own test binary: it sets `VERITY_PG_CA` for the process.
mod common;
use std::time::Duration;
use verity::store::db::{params, Exec, PgConn};
use verity::store::Store;

#[test]
fn postgres_over_tls_checks_the_server_certificate() {
    let Some(pg) = common::pg::Pg::start_tls() else {
        return;
    };
    let require = pg.tcp_url("postgres", "require");
    // The test CA is not trusted yet: the certificate check fails, naming the store.
    std::env::remove_var("VERITY_PG_CA");
    let e = match PgConn::connect_within(&require, Duration::from_millis(200)) {
        Ok(_) => panic!("a certificate from an unknown CA was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("cannot connect to the PostgreSQL store"), "{e}");
    assert!(e.contains("localhost"), "{e}");
    // A CA file that is not PEM is refused by name.
    let bogus = pg.socket_dir().join("not-a-ca.pem");
    std::fs::write(&bogus, b"hello").unwrap();
    std::env::set_var("VERITY_PG_CA", &bogus);
    let e = match PgConn::connect_within(&require, Duration::from_millis(200)) {
        Ok(_) => panic!("connected with an unreadable CA file"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("not-a-ca.pem"), "{e}");
    // With the CA: connected, and the session is encrypted.
    std::env::set_var("VERITY_PG_CA", pg.tls_ca.as_ref().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_postgres(&require, dir.path()).unwrap();
    let ssl: bool = s
        .db()
        .query_row(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            params![],
            |r| r.get(0),
        )
        .unwrap();
    assert!(ssl, "the store's session is not encrypted");
    // sslmode=disable goes plain (the server allows it): proof the check above can fail.
    let plain = Store::open_postgres(&pg.tcp_url("postgres", "disable"), dir.path()).unwrap();
    let ssl: bool = plain
        .db()
        .query_row(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            params![],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!ssl);
}
