//! Shared reads: all the subscriptions of one tenant to one stream, on this replica, share one
//! reader task (a hub). On a matching change the hub reads once and hands the value to every
//! subscription, so 100 subscriptions cost one read per change, not 100. Reads are made one
//! after another by that one task, so a later value never reflects less than an earlier one: a
//! subscription never sees an older value after a newer one. A hub starts with its first
//! subscription and ends with its last.
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, broadcast, watch};

use super::{Change, Live, TenantEvent};
use crate::domain::TenantId;

/// (tenant, stream name, the type of what the hub hands out).
type Key = (TenantId, String, TypeId);
type Map = Arc<Mutex<HashMap<Key, Arc<dyn Any + Send + Sync>>>>;

/// This replica's hubs, and the subscriptions on them (all hubs).
#[derive(Default)]
pub(super) struct Hubs {
    map: Map,
    pub(super) members: Arc<AtomicUsize>,
}

/// How far a subscriber of an event hub may fall behind before it skips to the newest.
const EVENT_BACKLOG: usize = 1_024;

struct Hub<O> {
    /// Subscriptions on the hub; raised only under the registry's lock.
    members: AtomicUsize,
    /// The last member left.
    gone: Notify,
    /// A new member wants a value read after it joined.
    want: Notify,
    /// Reads started so far (the number of the one in progress).
    started: AtomicU64,
    out: O,
}

/// One subscription's hold on its hub.
struct Member<O> {
    hub: Arc<Hub<O>>,
    all: Arc<AtomicUsize>,
}

impl<O> Drop for Member<O> {
    fn drop(&mut self) {
        self.all.fetch_sub(1, Ordering::SeqCst);
        if self.hub.members.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.hub.gone.notify_one();
        }
    }
}

/// A value, the number of the read that gave it, and the number of the latest read made for a
/// change (this one or an earlier one). A read made only for a new member's first value shows
/// the others nothing they must see: a change it shows is read again once its nudge arrives.
struct Snapshot<V> {
    read: u64,
    for_change: u64,
    value: Option<V>,
}

fn lock(hubs: &Map) -> MutexGuard<'_, HashMap<Key, Arc<dyn Any + Send + Sync>>> {
    hubs.lock().unwrap_or_else(|p| p.into_inner())
}

impl Live {
    /// Joins the hub of `(tenant, name)`, starting it (with `start`) if there is none.
    fn join<O: Send + Sync + 'static>(
        &self,
        tenant: TenantId,
        name: &str,
        out: impl FnOnce() -> O,
        start: impl FnOnce(Arc<Hub<O>>, Map, Key, broadcast::Receiver<TenantEvent>),
    ) -> Member<O> {
        let key = (tenant, name.to_owned(), TypeId::of::<O>());
        let mut map = lock(&self.hubs.map);
        let all = self.hubs.members.clone();
        all.fetch_add(1, Ordering::SeqCst);
        if let Some(hub) = map
            .get(&key)
            .and_then(|h| h.clone().downcast::<Hub<O>>().ok())
        {
            hub.members.fetch_add(1, Ordering::SeqCst);
            return Member { hub, all };
        }
        let hub = Arc::new(Hub {
            members: AtomicUsize::new(1),
            gone: Notify::new(),
            want: Notify::new(),
            started: AtomicU64::new(0),
            out: out(),
        });
        map.insert(key.clone(), hub.clone());
        start(
            hub.clone(),
            self.hubs.map.clone(),
            key,
            self.local.subscribe(),
        );
        Member { hub, all }
    }

    /// The current value of one of `tenant`'s streams, then a new one after each burst of
    /// changes `wanted` picks. `read` runs once per burst for all of this replica's
    /// subscriptions to `(tenant, name)`, whichever of them started the hub. The first value is
    /// from a read begun after this call, so it shows every change committed before it; a
    /// subscriber that falls behind skips to the newest value.
    pub fn latest<V, W, R, F>(
        &self,
        tenant: TenantId,
        name: &str,
        wanted: W,
        read: R,
    ) -> impl Stream<Item = V> + Send + 'static + use<V, W, R, F>
    where
        V: Clone + Send + Sync + 'static,
        W: Fn(&Change) -> bool + Send + Sync + 'static,
        R: Fn() -> F + Send + 'static,
        F: Future<Output = V> + Send + 'static,
    {
        let member = self.join(
            tenant,
            name,
            || {
                watch::Sender::new(Snapshot::<V> {
                    read: 0,
                    for_change: 0,
                    value: None,
                })
            },
            |hub, hubs, key, changes| {
                let to = hub.clone();
                let mut for_change = 0;
                tokio::spawn(run(
                    hub,
                    hubs,
                    key,
                    changes,
                    wanted,
                    move |n, _, changed| {
                        if changed {
                            for_change = n;
                        }
                        let (value, to, for_change) = (read(), to.clone(), for_change);
                        async move {
                            let value = Some(value.await);
                            to.out.send_replace(Snapshot {
                                read: n,
                                for_change,
                                value,
                            });
                        }
                    },
                ));
            },
        );
        let rx = member.hub.out.subscribe();
        // Any read numbered above this one begins after `rx` listens.
        let after = member.hub.started.load(Ordering::SeqCst);
        member.hub.want.notify_one();
        // The first value: any read begun after joining. Then: a read for a change this member
        // has not been shown (the value may be newer still).
        stream::unfold(
            (member, rx, after, true),
            |(member, mut rx, seen, first)| async move {
                loop {
                    rx.changed().await.ok()?;
                    let (read, for_change, value) = {
                        let s = rx.borrow_and_update();
                        (s.read, s.for_change, s.value.clone())
                    };
                    let due = if first {
                        read > seen
                    } else {
                        for_change > seen
                    };
                    if let Some(value) = value.filter(|_| due) {
                        return Some((value, (member, rx, read, false)));
                    }
                }
            },
        )
    }

    /// What `read` makes of each burst of changes `wanted` picks in one of `tenant`'s streams,
    /// item by item, from now on. `read` runs once per burst for all of this replica's
    /// subscriptions to `(tenant, name)`. A subscriber more than 1,024 items behind skips to
    /// the newest.
    pub fn each<V, W, R, F>(
        &self,
        tenant: TenantId,
        name: &str,
        wanted: W,
        mut read: R,
    ) -> impl Stream<Item = V> + Send + 'static + use<V, W, R, F>
    where
        V: Clone + Send + Sync + 'static,
        W: Fn(&Change) -> bool + Send + Sync + 'static,
        R: FnMut(Vec<Change>) -> F + Send + 'static,
        F: Future<Output = Vec<V>> + Send + 'static,
    {
        let member = self.join(
            tenant,
            name,
            || broadcast::Sender::<V>::new(EVENT_BACKLOG),
            |hub, hubs, key, changes| {
                let to = hub.clone();
                tokio::spawn(run(hub, hubs, key, changes, wanted, move |_, batch, _| {
                    let (items, to) = (read(batch), to.clone());
                    async move {
                        for item in items.await {
                            let _ = to.out.send(item);
                        }
                    }
                }));
            },
        );
        let rx = member.hub.out.subscribe();
        stream::unfold((member, rx), |(member, mut rx)| async move {
            loop {
                match rx.recv().await {
                    Ok(item) => return Some((item, (member, rx))),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                }
            }
        })
    }
}

/// A hub's task: waits for a matching change (or a member's wish for a fresh value), folds
/// the changes queued behind it into the same burst, and runs `step` once for the burst, told
/// whether it is for a change (or for events missed) or only for a member's wish.
async fn run<O, W, S, F>(
    hub: Arc<Hub<O>>,
    hubs: Map,
    key: Key,
    mut changes: broadcast::Receiver<TenantEvent>,
    wanted: W,
    mut step: S,
) where
    W: Fn(&Change) -> bool,
    S: FnMut(u64, Vec<Change>, bool) -> F,
    F: Future<Output = ()>,
{
    let tenant = key.0;
    let ours = |e: &TenantEvent| e.is_for(tenant) && wanted(&e.change);
    loop {
        let mut burst = Vec::new();
        let mut missed = false;
        tokio::select! {
            () = hub.gone.notified() => {
                let mut map = lock(&hubs);
                if hub.members.load(Ordering::SeqCst) == 0 {
                    map.remove(&key);
                    return;
                }
                continue;
            }
            () = hub.want.notified() => {}
            got = changes.recv() => match got {
                Ok(e) if ours(&e) => burst.push(e.change),
                Ok(_) => continue,
                // Fell behind: a read shows whatever was missed.
                Err(RecvError::Lagged(_)) => missed = true,
                Err(RecvError::Closed) => return,
            },
        }
        loop {
            match changes.try_recv() {
                Ok(e) if ours(&e) => burst.push(e.change),
                Ok(_) => {}
                Err(TryRecvError::Lagged(_)) => missed = true,
                Err(_) => break,
            }
        }
        // Everything in `burst` committed before this read begins.
        let n = hub.started.fetch_add(1, Ordering::SeqCst) + 1;
        let changed = missed || !burst.is_empty();
        step(n, burst, changed).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;

    async fn next<T>(s: &mut (impl Stream<Item = T> + Unpin)) -> T {
        tokio::time::timeout(Duration::from_secs(30), s.next())
            .await
            .expect("in time")
            .expect("an item")
    }

    #[tokio::test]
    async fn subscriptions_to_one_stream_share_one_read_per_change() {
        let live = Live::in_process();
        let t = TenantId::new();
        let reads = Arc::new(AtomicU64::new(0));
        let feed = || {
            let reads = reads.clone();
            Box::pin(live.latest(
                t,
                "wallet",
                |c| matches!(c, Change::Wallet),
                move || {
                    let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
                    async move { n }
                },
            ))
        };
        let mut a = feed();
        let first = next(&mut a).await;
        let mut b = feed();
        let b_first = next(&mut b).await;
        // b's first value comes from a read begun after b joined; a is not shown that read
        // (nothing changed), so its next value below is the change's, as b's is.
        assert!(b_first > first);
        let before = reads.load(Ordering::SeqCst);
        live.publish(t, Change::Wallet);
        let (x, y) = (next(&mut a).await, next(&mut b).await);
        assert_eq!(x, y, "both saw the same read");
        assert!(x > b_first);
        assert_eq!(
            reads.load(Ordering::SeqCst),
            before + 1,
            "one read for both"
        );
        assert_eq!(live.hubs.map.lock().expect("hubs").len(), 1);
        drop((a, b));
        // The hub ends with its last subscription.
        for _ in 0..300 {
            if live.hubs.map.lock().expect("hubs").is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the hub outlived its subscriptions");
    }

    #[tokio::test]
    async fn another_tenants_changes_cause_no_read() {
        let live = Live::in_process();
        let (t, other) = (TenantId::new(), TenantId::new());
        let reads = Arc::new(AtomicU64::new(0));
        let counted = reads.clone();
        let mut s = Box::pin(live.latest(
            t,
            "wallet",
            |c| matches!(c, Change::Wallet),
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                async move { n }
            },
        ));
        assert_eq!(next(&mut s).await, 1);
        live.publish(other, Change::Wallet);
        live.publish(t, Change::Notification);
        live.publish(t, Change::Wallet);
        assert_eq!(
            next(&mut s).await,
            2,
            "only the tenant's wallet change was read"
        );
    }

    #[tokio::test]
    async fn each_hands_every_member_the_items_of_a_burst() {
        let live = Live::in_process();
        let t = TenantId::new();
        let feed = || {
            Box::pin(live.each(
                t,
                "invoices",
                |c| matches!(c, Change::Invoice { .. }),
                |burst: Vec<Change>| async move { burst },
            ))
        };
        let (mut a, mut b) = (feed(), feed());
        let change = Change::Invoice { id: "inv_1".into() };
        live.publish(t, change.clone());
        assert_eq!(next(&mut a).await, change);
        assert_eq!(next(&mut b).await, change);
    }
}
