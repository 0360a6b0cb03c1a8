//! One pooled connection for a unit of work. Inside `pinned`, the SQL store's statements share
//! one checkout, taken at the first statement and given back when the work ends, instead of a
//! checkout each: sqlx 0.8 pings every connection on its way back to the pool (a round trip
//! that cannot be switched off), so a payment read of six statements on four checkouts cost ten
//! round trips to the database, and costs seven when pinned.
//!
//! A pinned connection must never be held while waiting on anything but the database (a PSP
//! call, another request's lock): `release` gives it back, and the next statement takes a fresh
//! one. The PSP client and the per-transaction locks call it, so flows need not.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Any;
use sqlx::pool::PoolConnection;

tokio::task_local! {
    static SESSION: RefCell<Slot>;
}

#[derive(Default)]
struct Slot {
    conn: Option<(u64, PoolConnection<Any>)>,
    /// The connection failed during this unit of work: it goes back to the pool (which checks
    /// and closes it) instead of serving the next statement.
    lost: bool,
}

/// Runs `work` with one pooled connection shared by its statements. Nested calls share the
/// outer one. Tasks spawned by `work` do not inherit it.
pub async fn pinned<F: Future>(work: F) -> F::Output {
    if SESSION.try_with(|_| ()).is_ok() {
        return work.await;
    }
    SESSION.scope(RefCell::new(Slot::default()), work).await
}

/// Gives the pinned connection, if any, back to the pool now. Call before waiting on anything
/// but the database; outside `pinned` it does nothing.
pub fn release() {
    let conn = SESSION
        .try_with(|s| s.borrow_mut().conn.take())
        .ok()
        .flatten();
    drop(conn);
}

/// Whether this unit of work holds a pooled connection right now (for tests of the PSP call
/// wrapper: none may be held while a PSP answers).
pub fn holding() -> bool {
    SESSION
        .try_with(|s| s.borrow().conn.is_some())
        .unwrap_or(false)
}

/// The connection failed (I/O, protocol): do not reuse it within this unit of work.
pub(super) fn mark_lost() {
    let _ = SESSION.try_with(|s| s.borrow_mut().lost = true);
}

/// Identifies a pool, so a unit of work never runs a statement on another store's connection.
pub(super) fn next_pool_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A connection for one statement or DB transaction: the pinned one if the work is pinned, a
/// fresh checkout otherwise. Dropping it pins it (inside `pinned`) or returns it to the pool.
pub(super) struct Conn {
    conn: Option<PoolConnection<Any>>,
    /// `Some(pool id)` when the connection goes back into the unit of work's slot.
    pin_to: Option<u64>,
}

impl Conn {
    pub(super) async fn take(pool: &sqlx::AnyPool, pool_id: u64) -> Result<Conn, sqlx::Error> {
        let held = SESSION.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.lost {
                s.lost = false;
                drop(s.conn.take());
            }
            s.conn.take()
        });
        let (pinned, held) = match held {
            Ok(h) => (true, h),
            Err(_) => (false, None),
        };
        let conn = match held {
            Some((id, c)) if id == pool_id => c,
            // Another store's connection (two stores in one process): back to its pool.
            other => {
                drop(other);
                pool.acquire().await?
            }
        };
        Ok(Conn {
            conn: Some(conn),
            pin_to: pinned.then_some(pool_id),
        })
    }
}

impl std::ops::Deref for Conn {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        // Present from `take` until `drop`.
        self.conn
            .as_deref()
            .expect("connection present until dropped")
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn
            .as_deref_mut()
            .expect("connection present until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let (Some(id), Some(conn)) = (self.pin_to, self.conn.take()) else {
            return;
        };
        // Outside the scope (e.g. while the work is being dropped) the closure is not run and
        // the connection goes back to the pool with it.
        let _ = SESSION.try_with(move |s| {
            let mut s = s.borrow_mut();
            if !s.lost && s.conn.is_none() {
                s.conn = Some((id, conn));
            }
        });
    }
}
