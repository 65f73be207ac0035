//! The one database interface the store writes its SQL against, with two engines behind it:
//! SQLite (the embedded default, `rusqlite`) and PostgreSQL (`postgres`, for a team's shared
//! store). Store methods hold their SQL once, in SQLite's placeholder style (`?1`, `?`); for
//! PostgreSQL it is rewritten to `$1` … at run time. Values travel as [`Value`] both ways, so a
//! row reads the same from either engine (integers as `i64`, reals as `f64`, PostgreSQL's
//! `NUMERIC` aggregates and booleans folded into those). Where the dialects really differ (JSON
//! arrays, case-insensitive matching, schema bookkeeping) the caller asks [`Exec::dialect`].
//!
//! PostgreSQL connections are re-opened when the server went away (a restart): the next query
//! connects again, waiting up to [`PG_RECONNECT`] for the server to come back.
use crate::{Error, Result};
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// How long a PostgreSQL store waits for the server to accept connections again.
pub const PG_RECONNECT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One SQL value, engine-neutral.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Something that can be bound to a placeholder.
pub trait Param {
    fn value(&self) -> Value;
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value {
        (**self).value()
    }
}
impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value {
        match self {
            Some(v) => v.value(),
            None => Value::Null,
        }
    }
}
impl Param for Value {
    fn value(&self) -> Value {
        self.clone()
    }
}
impl Param for str {
    fn value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl Param for String {
    fn value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl Param for [u8] {
    fn value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl Param for Vec<u8> {
    fn value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl Param for bool {
    fn value(&self) -> Value {
        Value::Int(*self as i64)
    }
}
macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_param!(i64, i32, i16, u8, u16, u32, u64, usize);
impl Param for f64 {
    fn value(&self) -> Value {
        Value::Real(*self)
    }
}
impl Param for f32 {
    fn value(&self) -> Value {
        Value::Real(*self as f64)
    }
}

/// `params![a, b, …]`: placeholders' values, in order.
#[macro_export]
macro_rules! sql_params {
    () => {
        &[] as &[&dyn $crate::store::db::Param]
    };
    ($($x:expr),+ $(,)?) => {
        &[$(&$x as &dyn $crate::store::db::Param),+] as &[&dyn $crate::store::db::Param]
    };
}
pub use crate::sql_params as params;

/// One result row, read eagerly.
#[derive(Debug, Clone)]
pub struct Row {
    vals: Vec<Value>,
}

impl Row {
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self
            .vals
            .get(i)
            .ok_or_else(|| Error::Other(format!("database: no column {i} in the row")))?;
        T::from_value(v).map_err(|m| Error::Other(format!("database: column {i}: {m}")))
    }
}

/// A Rust type a column can be read as.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> std::result::Result<Self, String>;
}

impl FromValue for Value {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(v.clone())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}
impl FromValue for i64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i),
            // PostgreSQL's SUM over integers is NUMERIC.
            Value::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(*f as i64),
            v => Err(format!("expected an integer, found {v:?}")),
        }
    }
}
macro_rules! int_from {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> std::result::Result<Self, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range"))
            }
        }
    )*};
}
int_from!(i32, u32, u64, usize);
impl FromValue for bool {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        Ok(i64::from_value(v)? != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            v => Err(format!("expected a number, found {v:?}")),
        }
    }
}
impl FromValue for f32 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        f64::from_value(v).map(|f| f as f32)
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            v => Err(format!("expected text, found {v:?}")),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            v => Err(format!("expected bytes, found {v:?}")),
        }
    }
}

/// `.optional()`: a query that found no row → `Ok(None)`.
pub trait OptionalExt<T> {
    fn optional(self) -> Result<Option<T>>;
}
impl<T> OptionalExt<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::Db(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn no_rows() -> Error {
    Error::Db(rusqlite::Error::QueryReturnedNoRows)
}

/// Reads and writes: a connection or a transaction on one.
pub trait Exec {
    fn dialect(&self) -> Dialect;
    fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize>;
    fn query(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>>;
    fn execute_batch(&self, sql: &str) -> Result<()>;

    fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        let rows = self.query(sql, params)?;
        match rows.first() {
            Some(r) => f(r),
            None => Err(no_rows()),
        }
    }

    fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.query(sql, params)?.iter().map(f).collect()
    }

    /// True on PostgreSQL.
    fn is_pg(&self) -> bool {
        self.dialect() == Dialect::Postgres
    }

    /// `LIKE` that ignores ASCII case on both engines (SQLite's `LIKE` does; PostgreSQL's
    /// `ILIKE`).
    fn like(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }
}

// ---- SQLite ----

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn sqlite_query(conn: &rusqlite::Connection, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>> {
    let vals: Vec<Value> = params.iter().map(|p| p.value()).collect();
    let mut st = conn.prepare_cached(sql)?;
    let n = st.column_count();
    let mut rows = st.query(rusqlite::params_from_iter(vals.iter()))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            use rusqlite::types::ValueRef;
            v.push(match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Int(i),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(Row { vals: v });
    }
    Ok(out)
}

fn sqlite_execute(conn: &rusqlite::Connection, sql: &str, params: &[&dyn Param]) -> Result<usize> {
    let vals: Vec<Value> = params.iter().map(|p| p.value()).collect();
    let mut st = conn.prepare_cached(sql)?;
    Ok(st.execute(rusqlite::params_from_iter(vals.iter()))?)
}

// ---- PostgreSQL ----

mod pg {
    use super::Value;
    use postgres::types::{FromSql, IsNull, ToSql, Type};
    use std::error::Error as StdError;

    type BoxErr = Box<dyn StdError + Sync + Send>;

    impl ToSql for Value {
        fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxErr> {
            match self {
                Value::Null => Ok(IsNull::Yes),
                Value::Int(i) => match *ty {
                    Type::INT8 => i.to_sql(ty, out),
                    Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                    Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                    Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                    Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                    Type::BOOL => (*i != 0).to_sql(ty, out),
                    Type::TEXT | Type::VARCHAR | Type::UNKNOWN => {
                        i.to_string().as_str().to_sql(ty, out)
                    }
                    _ => Err(format!("an integer cannot be sent as {ty}").into()),
                },
                Value::Real(f) => match *ty {
                    Type::FLOAT8 => f.to_sql(ty, out),
                    Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                    Type::INT8 if f.fract() == 0.0 => (*f as i64).to_sql(ty, out),
                    Type::TEXT | Type::VARCHAR | Type::UNKNOWN => {
                        f.to_string().as_str().to_sql(ty, out)
                    }
                    _ => Err(format!("a number cannot be sent as {ty}").into()),
                },
                Value::Text(s) => match *ty {
                    Type::INT8 => s.trim().parse::<i64>()?.to_sql(ty, out),
                    Type::FLOAT8 => s.trim().parse::<f64>()?.to_sql(ty, out),
                    _ => s.as_str().to_sql(ty, out),
                },
                Value::Blob(b) => b.as_slice().to_sql(ty, out),
            }
        }

        fn accepts(_: &Type) -> bool {
            true
        }

        postgres::types::to_sql_checked!();
    }

    impl<'a> FromSql<'a> for Value {
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxErr> {
            Ok(match *ty {
                Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
                Type::INT4 => Value::Int(i32::from_sql(ty, raw)? as i64),
                Type::INT2 => Value::Int(i16::from_sql(ty, raw)? as i64),
                Type::OID => Value::Int(u32::from_sql(ty, raw)? as i64),
                Type::BOOL => Value::Int(bool::from_sql(ty, raw)? as i64),
                Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
                Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)? as f64),
                Type::NUMERIC => numeric(raw)?,
                Type::BYTEA => Value::Blob(raw.to_vec()),
                Type::JSONB if raw.first() == Some(&1) => {
                    Value::Text(std::str::from_utf8(&raw[1..])?.to_string())
                }
                _ => Value::Text(std::str::from_utf8(raw)?.to_string()),
            })
        }

        fn from_sql_null(_: &Type) -> Result<Self, BoxErr> {
            Ok(Value::Null)
        }

        fn accepts(_: &Type) -> bool {
            true
        }
    }

    /// PostgreSQL's binary NUMERIC (base-10000 digits): an integer when it has no fraction.
    fn numeric(raw: &[u8]) -> Result<Value, BoxErr> {
        if raw.len() < 8 {
            return Err("short NUMERIC".into());
        }
        let rd = |i: usize| i16::from_be_bytes([raw[i], raw[i + 1]]);
        let ndigits = rd(0) as usize;
        let weight = rd(2) as i32;
        let sign = u16::from_be_bytes([raw[4], raw[5]]);
        let dscale = rd(6);
        if sign == 0xC000 {
            return Ok(Value::Real(f64::NAN));
        }
        if raw.len() < 8 + 2 * ndigits {
            return Err("short NUMERIC".into());
        }
        let mut v = 0f64;
        for k in 0..ndigits {
            let d = rd(8 + 2 * k) as f64;
            v += d * 10000f64.powi(weight - k as i32);
        }
        if sign == 0x4000 {
            v = -v;
        }
        Ok(if dscale == 0 && v.abs() < 9.0e15 {
            Value::Int(v as i64)
        } else {
            Value::Real(v)
        })
    }
}

/// SQLite-style placeholders (`?1`, `?`) as PostgreSQL's (`$1`); quoted text is left alone.
pub fn pg_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut highest = 0usize;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut num = String::new();
                while let Some(d) = chars.peek().copied().filter(|d| d.is_ascii_digit()) {
                    num.push(d);
                    chars.next();
                }
                let n = if num.is_empty() {
                    highest + 1
                } else {
                    num.parse().unwrap_or(highest + 1)
                };
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            c => out.push(c),
        }
    }
    out
}

fn pg_params(params: &[&dyn Param]) -> Vec<Value> {
    params.iter().map(|p| p.value()).collect()
}

fn pg_rows(rows: Vec<postgres::Row>) -> Result<Vec<Row>> {
    rows.into_iter()
        .map(|r| {
            let vals = (0..r.len())
                .map(|i| r.try_get::<_, Value>(i))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(Row { vals })
        })
        .collect()
}

fn pg_refs(vals: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    vals.iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

/// TLS for PostgreSQL connections (rustls, ring): the Mozilla roots plus the PEM certificates in
/// `$VERITY_PG_CA` (a private CA). The URL's `sslmode` decides: `prefer` (the default) uses TLS
/// when the server offers it, `require` refuses a plain connection, `disable` never tries.
fn pg_tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = std::env::var_os("VERITY_PG_CA") {
        let certs = CertificateDer::pem_file_iter(&ca)
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| {
                Error::input(
                    &ca,
                    format!("VERITY_PG_CA: cannot read the CA certificates: {e}"),
                )
            })?;
        if certs.is_empty() {
            return Err(Error::input(
                &ca,
                "VERITY_PG_CA: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
            ));
        }
        for c in certs {
            roots.add(c).map_err(|e| {
                Error::input(
                    &ca,
                    format!("VERITY_PG_CA: not a usable CA certificate: {e}"),
                )
            })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Other(format!("TLS for PostgreSQL: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// How to reach the server: its parsed URL, and TLS over TCP as the URL's `sslmode` says (a
/// Unix socket — a `host` that is a folder — is local and never encrypted). Built once per
/// connection attempt series, so a malformed URL or CA file fails at once, not after retries.
struct Target {
    cfg: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Target {
    fn new(url: &str) -> Result<Target> {
        let cfg: postgres::Config = url.parse().map_err(|e| {
            Error::Config(format!(
                "{} is not a PostgreSQL URL: {e}",
                crate::logging::redact_url(url)
            ))
        })?;
        let local = !cfg.get_hosts().is_empty()
            && cfg
                .get_hosts()
                .iter()
                .all(|h| matches!(h, postgres::config::Host::Unix(_)));
        let tls = if local { None } else { Some(pg_tls()?) };
        Ok(Target { cfg, tls })
    }

    fn connect(&self) -> std::result::Result<postgres::Client, postgres::Error> {
        match &self.tls {
            None => self.cfg.connect(postgres::NoTls),
            Some(t) => self.cfg.connect(t.clone()),
        }
    }
}

/// A PostgreSQL connection that comes back after the server restarts.
pub struct PgConn {
    url: String,
    client: RefCell<Option<postgres::Client>>,
    /// How long a lost connection is waited for before [`Error::StoreUnavailable`].
    wait: Duration,
}

impl PgConn {
    /// Connects, waiting up to [`PG_RECONNECT`] for the server (a worker may start first).
    pub fn connect(url: &str) -> Result<Self> {
        Self::connect_within(url, PG_RECONNECT)
    }

    /// Connects, waiting up to `wait` for the server to accept connections.
    pub fn connect_within(url: &str, wait: Duration) -> Result<Self> {
        let c = PgConn {
            url: url.to_string(),
            client: RefCell::new(None),
            wait,
        };
        *c.client.borrow_mut() = Some(c.open(wait)?);
        Ok(c)
    }

    fn open(&self, wait: Duration) -> Result<postgres::Client> {
        let target = Target::new(&self.url)?;
        let start = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            match target.connect() {
                Ok(c) => return Ok(c),
                Err(e) if start.elapsed() < wait => {
                    tracing::warn!(
                        "PostgreSQL at {} not reachable ({e}); retrying",
                        crate::logging::redact_url(&self.url)
                    );
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    return Err(Error::StoreUnavailable(format!(
                        "cannot connect to the PostgreSQL store {}: {e}",
                        crate::logging::redact_url(&self.url)
                    )))
                }
            }
        }
    }

    /// Runs `f` on a live client; a connection the server closed is opened again (waiting up
    /// the connection's wait, [`PG_RECONNECT`] by default), and a statement that failed because the connection broke is
    /// retried once on the new one when `retry` allows it.
    fn with<T>(&self, mut f: impl FnMut(&mut postgres::Client) -> Result<T>) -> Result<T> {
        let mut guard = self.client.try_borrow_mut().map_err(|_| {
            Error::Other(
                "internal: the PostgreSQL connection is already in use by a transaction".into(),
            )
        })?;
        for attempt in 0..2 {
            if guard.as_ref().map(|c| c.is_closed()).unwrap_or(true) {
                *guard = Some(self.open(self.wait)?);
            }
            let client = guard.as_mut().expect("connected above");
            match f(client) {
                Err(Error::Pg(e)) if attempt == 0 && (e.is_closed() || client.is_closed()) => {
                    tracing::warn!("PostgreSQL connection lost ({e}); reconnecting");
                    *guard = None;
                }
                r => return r,
            }
        }
        unreachable!("the loop returns")
    }
}

/// A store's connection.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Pg(PgConn),
}

/// A write transaction (committed by [`Db::write_tx`] when its closure returns `Ok`).
pub enum Tx<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Pg(RefCell<postgres::Transaction<'a>>),
}

impl Exec for Db {
    fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Pg(_) => Dialect::Postgres,
        }
    }
    fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize> {
        match self {
            Db::Sqlite(c) => sqlite_execute(c, sql, params),
            Db::Pg(p) => {
                let q = pg_sql(sql);
                let vals = pg_params(params);
                p.with(|c| Ok(c.execute(q.as_str(), &pg_refs(&vals))? as usize))
            }
        }
    }
    fn query(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>> {
        match self {
            Db::Sqlite(c) => sqlite_query(c, sql, params),
            Db::Pg(p) => {
                let q = pg_sql(sql);
                let vals = pg_params(params);
                p.with(|c| pg_rows(c.query(q.as_str(), &pg_refs(&vals))?))
            }
        }
    }
    fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(p) => p.with(|c| Ok(c.batch_execute(sql)?)),
        }
    }
}

impl<'a> Tx<'a> {
    /// The SQLite transaction (schema bookkeeping that has no PostgreSQL form).
    pub fn sqlite(&self) -> Option<&rusqlite::Transaction<'a>> {
        match self {
            Tx::Sqlite(t) => Some(t),
            Tx::Pg(_) => None,
        }
    }
}

impl Exec for Tx<'_> {
    fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Pg(_) => Dialect::Postgres,
        }
    }
    fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize> {
        match self {
            Tx::Sqlite(t) => sqlite_execute(t, sql, params),
            Tx::Pg(t) => {
                let vals = pg_params(params);
                Ok(t.borrow_mut()
                    .execute(pg_sql(sql).as_str(), &pg_refs(&vals))? as usize)
            }
        }
    }
    fn query(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>> {
        match self {
            Tx::Sqlite(t) => sqlite_query(t, sql, params),
            Tx::Pg(t) => {
                let vals = pg_params(params);
                pg_rows(
                    t.borrow_mut()
                        .query(pg_sql(sql).as_str(), &pg_refs(&vals))?,
                )
            }
        }
    }
    fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Tx::Sqlite(t) => Ok(t.execute_batch(sql)?),
            Tx::Pg(t) => Ok(t.borrow_mut().batch_execute(sql)?),
        }
    }
}

/// SQLITE_BUSY (including BUSY_SNAPSHOT) and SQLITE_LOCKED; PostgreSQL's serialization
/// failure and deadlock.
pub fn is_busy(e: &Error) -> bool {
    match e {
        Error::Db(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        ),
        Error::Pg(p) => matches!(
            p.code(),
            Some(&postgres::error::SqlState::T_R_SERIALIZATION_FAILURE)
                | Some(&postgres::error::SqlState::T_R_DEADLOCK_DETECTED)
        ),
        _ => false,
    }
}

/// True when `e` says the database could not be reached (the server went away, a restart, a
/// connection that broke), not that a statement was wrong: the work can be retried later.
pub fn is_unavailable(e: &Error) -> bool {
    match e {
        Error::Pg(p) => {
            p.is_closed()
                || match p.code() {
                    None => p.as_db_error().is_none(),
                    Some(c) => {
                        *c == postgres::error::SqlState::ADMIN_SHUTDOWN
                            || *c == postgres::error::SqlState::CRASH_SHUTDOWN
                            || *c == postgres::error::SqlState::CANNOT_CONNECT_NOW
                            || *c == postgres::error::SqlState::CONNECTION_FAILURE
                            || *c == postgres::error::SqlState::CONNECTION_EXCEPTION
                    }
                }
        }
        Error::StoreUnavailable(_) => true,
        _ => false,
    }
}

/// How many times a write transaction is attempted when the database stays busy.
const WRITE_ATTEMPTS: u32 = 4;

/// Runs `f` until it succeeds, fails with something other than BUSY, or `WRITE_ATTEMPTS` tries.
pub fn retry_busy<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 0;
    loop {
        match f() {
            Err(e) if is_busy(&e) && attempt + 1 < WRITE_ATTEMPTS => {
                attempt += 1;
                tracing::warn!("database busy, retrying the write ({attempt}): {e}");
                std::thread::sleep(Duration::from_millis(25 << attempt));
            }
            r => return r,
        }
    }
}

impl Db {
    /// One write transaction: SQLite `BEGIN IMMEDIATE` (writers queue on the file lock),
    /// PostgreSQL `BEGIN` (READ COMMITTED; rows are locked where they are written), `f`,
    /// `COMMIT`; retried while the database is busy. A PostgreSQL connection that broke is
    /// opened again and the whole transaction re-run.
    pub fn write_tx<T>(&self, mut f: impl FnMut(&Tx) -> Result<T>) -> Result<T> {
        retry_busy(|| match self {
            Db::Sqlite(conn) => {
                let tx = rusqlite::Transaction::new_unchecked(
                    conn,
                    rusqlite::TransactionBehavior::Immediate,
                )?;
                let tx = Tx::Sqlite(tx);
                let v = f(&tx)?;
                match tx {
                    Tx::Sqlite(t) => t.commit()?,
                    Tx::Pg(_) => unreachable!(),
                }
                Ok(v)
            }
            Db::Pg(p) => p.with(|client| {
                let t = client.transaction()?;
                let tx = Tx::Pg(RefCell::new(t));
                let v = f(&tx)?;
                match tx {
                    Tx::Pg(t) => t.into_inner().commit()?,
                    Tx::Sqlite(_) => unreachable!(),
                }
                Ok(v)
            }),
        })
    }

    /// The SQLite connection (tests and SQLite-only diagnostics).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Db::Sqlite(c) => Some(c),
            Db::Pg(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollar_numbers_outside_quotes() {
        assert_eq!(
            pg_sql("SELECT a FROM t WHERE b = ?1 AND c = ?2 OR d = ?1"),
            "SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1"
        );
        assert_eq!(
            pg_sql("x = ? AND y = ? AND z = '?'"),
            "x = $1 AND y = $2 AND z = '?'"
        );
        assert_eq!(pg_sql("x = ?3 AND y = ?"), "x = $3 AND y = $4");
    }

    #[test]
    fn sqlite_rows_read_as_engine_neutral_values() {
        let db = Db::Sqlite(rusqlite::Connection::open_in_memory().unwrap());
        db.execute_batch("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB)")
            .unwrap();
        db.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
            params![7i64, 0.5f64, "x", vec![1u8, 2]],
        )
        .unwrap();
        let (i, r, s, b): (i64, f64, String, Vec<u8>) = db
            .query_row("SELECT i, r, s, b FROM t", params![], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!((i, r, s.as_str(), b), (7, 0.5, "x", vec![1, 2]));
        let none = db
            .query_row("SELECT i FROM t WHERE i = ?1", params![8], |r| {
                r.get::<i64>(0)
            })
            .optional()
            .unwrap();
        assert_eq!(none, None);
        assert!(db
            .query_row("SELECT s FROM t", params![], |r| r.get::<i64>(0))
            .is_err());
    }
}
