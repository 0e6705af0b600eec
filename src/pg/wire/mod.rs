//! The protocol spoken straight on a pooled connection's socket, for the load's hot calls.
//!
//! Why: at one call in flight per connection, tokio-postgres costs more client CPU per call
//! than pgbench does in total (README, "Against pgbench": 0.77 s against 0.67 s for 200,000
//! calls), because each call travels through two channels and the connection's own task. A
//! worker that owns its connection for the load needs none of that: it borrows the socket
//! ([`Detach::lease`]), writes Bind/Execute/Sync (or Parse first, or a simple Query) and reads
//! the answer itself, on the same thread, with two reused buffers.
//!
//! Only what the race paths need: statements whose parameters are encoded by `ToSql` (binary)
//! and whose results come back as text, the command tag's row count and the first row. The
//! connection is opened, authenticated (SCRAM, TLS, …) and kept by tokio-postgres; an encrypted
//! one is never lent.

mod connect;
mod detach;

pub use connect::{WireConnect, Wires};
pub use detach::{Detach, Lease, Socket, Stream};

use bytes::{Buf, BytesMut};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::types::{IsNull, ToSql, Type};

/// What went wrong with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum WireError {
    /// The server refused it: SQLSTATE and message.
    Db { code: String, message: String },
    /// The socket failed or the server closed it: the request's fate is unknown.
    Closed(String),
    /// A parameter could not be encoded (nothing was sent).
    Encode(String),
}

/// The first row of an answer, as text: its bytes and each column's range (`None`: NULL).
#[derive(Default)]
pub struct FirstRow {
    bytes: Vec<u8>,
    cols: Vec<Option<(usize, usize)>>,
    /// Rows the answer had.
    pub rows: u64,
}

impl FirstRow {
    /// Column `i` of the first row, as text; `None` for NULL or a missing column.
    pub fn text(&self, i: usize) -> Option<&str> {
        let (a, b) = (*self.cols.get(i)?)?;
        std::str::from_utf8(&self.bytes[a..b]).ok()
    }

    pub fn columns(&self) -> usize {
        self.cols.len()
    }
}

/// Which statement a request runs.
#[derive(Clone, Copy)]
pub enum Statement<'a> {
    /// A statement prepared on this lease ([`WireConn::prepare`]).
    Named(&'a str),
    /// The SQL, parsed as the unnamed statement in the same round trip.
    Unnamed(&'a str),
}

/// A lent socket and the buffers of the requests on it.
pub struct WireConn {
    /// Always there, except in the moment `drop` hands it to the task that reads off what is
    /// owed.
    lease: Option<Lease>,
    out: BytesMut,
    buf: BytesMut,
    /// Answers (ReadyForQuery) still to come for requests sent: one when a call's future was
    /// dropped halfway, read off before the next request.
    owed: u32,
    broken: Option<String>,
    /// This is the task that reads off what a dropped call owed: never hand it on again.
    last_hand: bool,
}

impl WireConn {
    pub fn new(lease: Lease) -> WireConn {
        WireConn {
            lease: Some(lease),
            out: BytesMut::with_capacity(512),
            buf: BytesMut::with_capacity(8192),
            owed: 0,
            broken: None,
            last_hand: false,
        }
    }

    /// Prepares `sql` as the named statement `name` with these parameter types (closing any
    /// statement of that name first).
    pub async fn prepare(
        &mut self,
        name: &str,
        sql: &str,
        types: &[Type],
    ) -> Result<(), WireError> {
        self.ready().await?;
        let encode = |e: std::io::Error| WireError::Encode(e.to_string());
        frontend::close(b'S', name, &mut self.out).map_err(encode)?;
        frontend::parse(name, sql, types.iter().map(Type::oid), &mut self.out).map_err(encode)?;
        frontend::sync(&mut self.out);
        self.round_trip(None).await.map(drop)
    }

    /// Runs a statement with these parameters (binary, as `ToSql` writes them for `types`);
    /// returns the command tag's row count, and leaves the first row in `row` when given.
    pub async fn execute<'p>(
        &mut self,
        stmt: Statement<'_>,
        params: impl IntoIterator<Item = &'p (dyn ToSql + Sync)>,
        types: &[Type],
        row: Option<&mut FirstRow>,
    ) -> Result<u64, WireError> {
        self.ready().await?;
        let encode = |e: std::io::Error| WireError::Encode(e.to_string());
        let name = match stmt {
            Statement::Named(name) => name,
            Statement::Unnamed(sql) => {
                frontend::parse("", sql, types.iter().map(Type::oid), &mut self.out)
                    .map_err(encode)?;
                ""
            }
        };
        let bound = frontend::bind(
            "",
            name,
            std::iter::once(1),
            params.into_iter().zip(types),
            |(p, ty), buf| match p.to_sql_checked(ty, buf) {
                Ok(IsNull::No) => Ok(postgres_protocol::IsNull::No),
                Ok(IsNull::Yes) => Ok(postgres_protocol::IsNull::Yes),
                Err(e) => Err(e),
            },
            std::iter::once(0),
            &mut self.out,
        );
        if let Err(e) = bound {
            self.out.clear();
            return Err(WireError::Encode(match e {
                frontend::BindError::Conversion(e) => e.to_string(),
                frontend::BindError::Serialization(e) => e.to_string(),
            }));
        }
        frontend::execute("", 0, &mut self.out).map_err(encode)?;
        frontend::sync(&mut self.out);
        self.round_trip(row).await
    }

    /// Sends `sql` over the simple query protocol; returns the last command tag's row count,
    /// and leaves the first row in `row` when given.
    pub async fn simple(
        &mut self,
        sql: &str,
        row: Option<&mut FirstRow>,
    ) -> Result<u64, WireError> {
        self.ready().await?;
        frontend::query(sql, &mut self.out).map_err(|e| WireError::Encode(e.to_string()))?;
        self.round_trip(row).await
    }

    /// Reads off the answers of requests whose caller went away, so the session is idle.
    async fn ready(&mut self) -> Result<(), WireError> {
        if let Some(why) = &self.broken {
            return Err(WireError::Closed(why.clone()));
        }
        while self.owed > 0 {
            self.answer(None).await.or_else(|e| match e {
                WireError::Db { .. } => Ok(0),
                other => Err(other),
            })?;
        }
        Ok(())
    }

    async fn round_trip(&mut self, row: Option<&mut FirstRow>) -> Result<u64, WireError> {
        self.owed += 1;
        let sock = self
            .lease
            .as_mut()
            .expect("a connection in use holds its lease");
        if let Err(e) = sock.socket().write_all(&self.out).await {
            self.out.clear();
            return Err(self.lost(e.to_string()));
        }
        self.out.clear();
        self.answer(row).await
    }

    fn lost(&mut self, why: String) -> WireError {
        self.broken = Some(why.clone());
        if let Some(l) = self.lease.as_mut() {
            l.lose();
        }
        WireError::Closed(why)
    }

    /// Reads one request's answer, up to its ReadyForQuery.
    async fn answer(&mut self, mut row: Option<&mut FirstRow>) -> Result<u64, WireError> {
        if let Some(r) = row.as_deref_mut() {
            r.rows = 0;
            r.cols.clear();
            r.bytes.clear();
        }
        let mut count = 0;
        let mut error: Option<WireError> = None;
        loop {
            // One whole message in the buffer: tag, length (which counts itself), body.
            while self.buf.len() < 5 || self.buf.len() < 1 + be32(&self.buf[1..5]).max(4) as usize {
                self.buf.reserve(4096);
                let sock = self
                    .lease
                    .as_mut()
                    .expect("a connection in use holds its lease");
                match sock.socket().read_buf(&mut self.buf).await {
                    Ok(0) => return Err(self.lost("the server closed the connection".into())),
                    Ok(_) => {}
                    Err(e) => return Err(self.lost(e.to_string())),
                }
            }
            let tag = self.buf[0];
            let len = be32(&self.buf[1..5]).max(4) as usize;
            let body = &self.buf[5..1 + len];
            match tag {
                b'Z' => {
                    self.buf.advance(1 + len);
                    self.owed = self.owed.saturating_sub(1);
                    return match error {
                        Some(e) => Err(e),
                        None => Ok(count),
                    };
                }
                b'C' => count = tag_count(body),
                b'D' => {
                    if let Some(r) = row.as_deref_mut() {
                        if r.rows == 0 {
                            first_row(body, r);
                        }
                        r.rows += 1;
                    }
                }
                b'E' => error = Some(db_error(body)),
                // Parse/Bind/Close complete, RowDescription, NoData, notices, parameter
                // status, notifications, empty query: nothing to keep.
                _ => {}
            }
            self.buf.advance(1 + len);
        }
    }
}

impl Drop for WireConn {
    /// A call dropped halfway leaves answers owed: they are read off on this runtime before the
    /// socket goes back, else the connection is closed.
    fn drop(&mut self) {
        if self.owed == 0 || self.broken.is_some() {
            return;
        }
        let rt = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|_| !self.last_hand);
        let Some(rt) = rt else {
            let _ = self.lost("dropped with an answer owed".into());
            return;
        };
        let mut rest = WireConn {
            lease: self.lease.take(),
            out: BytesMut::new(),
            buf: std::mem::take(&mut self.buf),
            owed: self.owed,
            broken: None,
            last_hand: true,
        };
        self.owed = 0;
        rt.spawn(async move {
            if let Err(e) = rest.ready().await {
                let _ = rest.lost(format!("{e:?}"));
            }
        });
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The row count at the end of a command tag ("UPDATE 1", "SELECT 3", "INSERT 0 1").
fn tag_count(body: &[u8]) -> u64 {
    let tag = body.split(|&b| b == 0).next().unwrap_or_default();
    tag.rsplit(|&b| b == b' ')
        .next()
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn first_row(mut body: &[u8], row: &mut FirstRow) {
    if body.len() < 2 {
        return;
    }
    let n = u16::from_be_bytes([body[0], body[1]]);
    body = &body[2..];
    for _ in 0..n {
        if body.len() < 4 {
            return;
        }
        let len = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        body = &body[4..];
        if len < 0 {
            row.cols.push(None);
            continue;
        }
        let len = (len as usize).min(body.len());
        let at = row.bytes.len();
        row.bytes.extend_from_slice(&body[..len]);
        row.cols.push(Some((at, at + len)));
        body = &body[len..];
    }
}

/// An ErrorResponse's SQLSTATE ('C') and message ('M').
fn db_error(mut body: &[u8]) -> WireError {
    let (mut code, mut message) = (String::new(), String::new());
    while let Some((&field, rest)) = body.split_first() {
        if field == 0 {
            break;
        }
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let value = String::from_utf8_lossy(&rest[..end]).into_owned();
        match field {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
        body = rest.get(end + 1..).unwrap_or_default();
    }
    WireError::Db { code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_tag_gives_its_row_count() {
        assert_eq!(tag_count(b"UPDATE 1\0"), 1);
        assert_eq!(tag_count(b"SELECT 37\0"), 37);
        assert_eq!(tag_count(b"INSERT 0 5\0"), 5);
        assert_eq!(tag_count(b"BEGIN\0"), 0);
    }

    #[test]
    fn a_data_row_keeps_each_column_and_nulls() {
        // Three columns: "12", NULL, "-3.50".
        let mut body = vec![0, 3];
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(b"12");
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&5i32.to_be_bytes());
        body.extend_from_slice(b"-3.50");
        let mut row = FirstRow::default();
        first_row(&body, &mut row);
        assert_eq!(row.columns(), 3);
        assert_eq!(row.text(0), Some("12"));
        assert_eq!(row.text(1), None);
        assert_eq!(row.text(2), Some("-3.50"));
        assert_eq!(row.text(3), None);
    }

    #[test]
    fn an_error_response_gives_sqlstate_and_message() {
        let body = b"SERROR\0VERROR\0C40001\0Mcould not serialize access\0Fnodeam.c\0\0";
        assert_eq!(
            db_error(body),
            WireError::Db {
                code: "40001".into(),
                message: "could not serialize access".into()
            }
        );
    }
}
