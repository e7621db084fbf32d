//! The featurize operator: decode + resample + features on the process's decode threads, never
//! on a worker thread, so the workers keep moving data while songs are being decoded.
//!
//! ```text
//!  worker i: input ─► [retain capability at the track's time] ─┐
//!                                                              ├─► one bounded queue ─► decode threads
//!  worker j: input ─► [retain capability at the track's time] ─┘     (one per worker)    │ featurize
//!  worker i: output ◄─ [emit with the retained capability] ◄─ worker i's replies ◄───────┘ + activate i
//! ```
//! The decode threads are shared by the process's workers: tracks are dealt to workers
//! round-robin, and songs differ in length, so with a thread per worker the one that drew the
//! long songs finishes last while the other idles. With one queue a thread takes whichever
//! worker's next track is waiting; each finished track wakes every worker's operator (its own
//! result, or room in the queue). The output does not depend on which thread decoded a track.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cpu_time::ThreadTime;

use crossbeam::channel::{Receiver, Sender, TrySendError, bounded, unbounded};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
use timely::scheduling::SyncActivator;

use super::stages::{FeaturizedTrack, SourceItem, Stages};

/// Tracks queued for the decode threads, per thread.
const DECODE_QUEUE: usize = 2;

/// A track for the decode threads, and where its result goes.
struct Job {
    item: SourceItem,
    reply: Sender<FeaturizedTrack>,
}

/// The decode threads of one process, shared by its workers.
pub struct FeaturizePool {
    jobs: Sender<Job>,
    operators: Arc<Mutex<Vec<SyncActivator>>>,
    /// CPU time the threads have spent featurizing, in nanoseconds.
    cpu_nanos: Arc<AtomicU64>,
}

impl FeaturizePool {
    /// Starts `threads` decode threads running `stages.featurize`. They end when the pool and
    /// every operator using it are dropped.
    pub fn new(threads: usize, stages: Arc<Stages>) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = bounded::<Job>(DECODE_QUEUE * threads);
        let operators: Arc<Mutex<Vec<SyncActivator>>> = Arc::default();
        let cpu_nanos: Arc<AtomicU64> = Arc::default();
        for index in 0..threads {
            let (queue, stages, operators) = (queue.clone(), Arc::clone(&stages), Arc::clone(&operators));
            let cpu_nanos = Arc::clone(&cpu_nanos);
            std::thread::Builder::new()
                .name(format!("featurize-{index}"))
                .spawn(move || {
                    for Job { item, reply } in queue {
                        let started = ThreadTime::now();
                        let track = stages.featurize(item);
                        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        cpu_nanos.fetch_add(nanos, Ordering::Relaxed);
                        // A worker that is gone (shutdown) needs no result.
                        let _ = reply.send(track);
                        // Every operator: the result is for one of them, and the queue has room
                        // again for any that found it full. (Some may be gone at shutdown.)
                        for operator in operators.lock().expect("not poisoned").iter() {
                            let _ = operator.activate();
                        }
                    }
                })
                .expect("spawning a featurize thread");
        }
        Self { jobs, operators, cpu_nanos }
    }

    /// CPU time the threads have spent featurizing so far.
    pub fn cpu(&self) -> Duration {
        Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed))
    }
}

/// Deals the tracks out to the workers ([`SourceItem::route`]) and featurizes each on `pool`.
pub fn featurize<'scope>(
    items: Stream<'scope, u64, Vec<SourceItem>>,
    pool: &FeaturizePool,
) -> Stream<'scope, u64, Vec<FeaturizedTrack>> {
    let scope = items.scope();
    let route = Exchange::new(|item: &SourceItem| item.route());
    let jobs = pool.jobs.clone();
    let operators = Arc::clone(&pool.operators);
    items
        .unary(route, "Featurize", move |_cap, info| {
            operators.lock().expect("not poisoned").push(scope.worker().sync_activator_for(info.address.to_vec()));
            // Unbounded: it holds at most the tracks in flight, which the input bounds.
            let (reply, replies): (Sender<FeaturizedTrack>, Receiver<FeaturizedTrack>) = unbounded();
            let mut waiting: VecDeque<SourceItem> = VecDeque::new();
            let mut held: HashMap<u64, Capability<u64>> = HashMap::new();
            move |input, output| {
                input.for_each(|cap, data| {
                    for item in data.drain(..) {
                        held.insert(item.seq, cap.delayed(&item.seq, 0));
                        waiting.push_back(item);
                    }
                });
                while let Some(item) = waiting.pop_front() {
                    match jobs.try_send(Job { item, reply: reply.clone() }) {
                        Ok(()) => {}
                        Err(TrySendError::Full(job)) => {
                            waiting.push_front(job.item);
                            break;
                        }
                        Err(TrySendError::Disconnected(_)) => panic!("the featurize threads died"),
                    }
                }
                while let Ok(done) = replies.try_recv() {
                    let cap = held.remove(&done.seq).expect("a capability is held for every track in flight");
                    output.session(&cap).give(done);
                }
            }
        })
        .container::<Vec<_>>()
}
