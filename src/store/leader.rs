//! Leadership among replicas: on PostgreSQL the leader holds a session-level advisory lock on a
//! connection of its own (not from the pool, so the lock never leaks to other work). When the
//! leader's process dies its connection closes and the lock is free for the next replica to
//! take. On SQLite there is one process, and it leads.

use sqlx::{AnyConnection, Connection, Row};

use super::{Backend, Store, StoreError};

/// The advisory lock key: "prescale" in ASCII.
const LOCK_KEY: i64 = 0x7072_6573_6361_6c65;

/// Held while this process leads.
#[derive(Debug)]
pub struct Leadership {
    conn: Option<AnyConnection>,
}

impl Store {
    /// Takes the lead if no other process holds it.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn try_lead(&self) -> Result<Option<Leadership>, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(Leadership { conn: None }));
        }
        let mut conn = AnyConnection::connect(&self.url.connect_url()).await?;
        let row = sqlx::query("SELECT CASE WHEN pg_try_advisory_lock($1) THEN 1 ELSE 0 END AS ok")
            .bind(LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        let ok: i32 = row.try_get("ok")?;
        if ok == 1 {
            Ok(Some(Leadership { conn: Some(conn) }))
        } else {
            conn.close().await.ok();
            Ok(None)
        }
    }
}

impl Leadership {
    /// Whether the lock is still held (its connection still answers).
    pub async fn alive(&mut self) -> bool {
        match &mut self.conn {
            None => true,
            Some(c) => sqlx::query("SELECT 1").execute(&mut *c).await.is_ok(),
        }
    }

    /// Gives the lead up.
    pub async fn release(self) {
        if let Some(c) = self.conn {
            c.close().await.ok();
        }
    }
}
