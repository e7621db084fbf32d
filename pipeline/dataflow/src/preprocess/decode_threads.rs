//! The track operator: everything done per track — decode + resample + features, the encoding
//! of its `tracks` row (a compressed Parquet row group), and the tokenizing of its beatmaps
//! (parse, star rating, every tokenizer config) — on the process's decode threads, never on a
//! worker thread, so the workers only move data and write, and one worker's thread is all the
//! CPU a one-worker run uses.
//!
//! ```text
//!  worker i: input ─► [retain capability at the track's time] ─┐
//!                                                              ├─► one queue ─► decode threads
//!  worker j: input ─► [retain capability at the track's time] ─┘   (one per worker)  │ Stages::process
//!  worker i: output ◄─ [emit with the retained capability] ◄─ worker i's replies ◄───┘ + activate i
//! ```
//! The decode threads are shared by the process's workers: tracks are dealt to workers
//! round-robin, and songs differ in length, so with a thread per worker the one that drew the
//! long songs finishes last while the other idles. With one queue a thread takes whichever
//! worker's track is waiting ([`next_job`]): the earliest while the source flows (it holds back
//! the frontier, and with it the input's admissions and the chunk's writes), and once the source
//! has ended the largest (longest processing time first), so that the run's last songs leave
//! the short ones to fill the gaps, not a long one started last while the other threads idle.
//! The queue needs no bound of its own: it holds at most the tracks in flight, which the input
//! bounds. The output does not depend on which thread processed a track, nor in what order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cpu_time::ThreadTime;

use crossbeam::channel::{Receiver, Sender, unbounded};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
use timely::scheduling::SyncActivator;

use super::stages::{ChunkItem, SourceItem, Stages};

/// A processed track: its time and the chunk writer's parts of it.
type Processed = (u64, Vec<ChunkItem>);

/// A track for the decode threads, and where its parts go.
struct Job {
    item: SourceItem,
    reply: Sender<Processed>,
    /// The operator waiting for the result.
    operator: SyncActivator,
}

/// The jobs waiting for a decode thread.
#[derive(Default)]
struct Waiting {
    jobs: Vec<Job>,
    /// Every track has been admitted: no job will come before the ones waiting.
    source_ended: bool,
}

/// Which of the waiting jobs, given as `(time, encoded audio bytes)`, a free thread takes: the
/// earliest while the source flows, the largest (of equal sizes the earliest) once it has ended.
/// `None` when none waits.
fn next_job(jobs: impl Iterator<Item = (u64, usize)>, source_ended: bool) -> Option<usize> {
    let jobs = jobs.enumerate();
    if source_ended {
        jobs.max_by_key(|&(_, (seq, bytes))| (bytes, std::cmp::Reverse(seq))).map(|(i, _)| i)
    } else {
        jobs.min_by_key(|&(_, (seq, _))| seq).map(|(i, _)| i)
    }
}

impl Waiting {
    fn take(&mut self) -> Option<Job> {
        let costs = self.jobs.iter().map(|job| (job.item.seq, job.item.payload.as_ref().map_or(0, |t| t.audio.len())));
        next_job(costs, self.source_ended).map(|i| self.jobs.swap_remove(i))
    }
}

/// The queue of the decode threads. A thread takes one job per token on `queued`, so the
/// threads end when every sender (the pool and its operators) is gone.
#[derive(Clone)]
struct JobQueue {
    waiting: Arc<Mutex<Waiting>>,
    queued: Sender<()>,
}

impl JobQueue {
    fn push(&self, job: Job) {
        self.waiting.lock().expect("not poisoned").jobs.push(job);
        self.queued.send(()).expect("the featurize threads died");
    }

    fn source_ended(&self) {
        self.waiting.lock().expect("not poisoned").source_ended = true;
    }
}

/// The decode threads of one process, shared by its workers.
pub struct DecodePool {
    queue: JobQueue,
    /// CPU time the threads have spent on tracks, in nanoseconds.
    cpu_nanos: Arc<AtomicU64>,
}

impl DecodePool {
    /// Starts `threads` decode threads running `stages.process`. They end when the pool and
    /// every operator using it are dropped.
    pub fn new(threads: usize, stages: Arc<Stages>) -> Self {
        let (queued, tokens) = unbounded::<()>();
        let queue = JobQueue { waiting: Arc::default(), queued };
        let cpu_nanos: Arc<AtomicU64> = Arc::default();
        for index in 0..threads.max(1) {
            let (tokens, waiting, stages) = (tokens.clone(), Arc::clone(&queue.waiting), Arc::clone(&stages));
            let cpu_nanos = Arc::clone(&cpu_nanos);
            std::thread::Builder::new()
                .name(format!("decode-{index}"))
                .spawn(move || {
                    for () in tokens {
                        let Job { item, reply, operator } =
                            waiting.lock().expect("not poisoned").take().expect("a job is pushed before its token");
                        let started = ThreadTime::now();
                        let seq = item.seq;
                        let parts = stages.process(item);
                        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        cpu_nanos.fetch_add(nanos, Ordering::Relaxed);
                        // A worker that is gone (shutdown) needs no result.
                        let _ = reply.send((seq, parts));
                        let _ = operator.activate();
                    }
                })
                .expect("spawning a decode thread");
        }
        Self { queue, cpu_nanos }
    }

    /// CPU time the threads have spent on tracks so far.
    pub fn cpu(&self) -> Duration {
        Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed))
    }
}

/// Deals the tracks out to the workers ([`SourceItem::route`]) and processes each on `pool`
/// ([`Stages::process`]): the chunk writer's parts, at their track's time.
pub fn process_tracks<'scope>(
    items: Stream<'scope, u64, Vec<SourceItem>>,
    pool: &DecodePool,
) -> Stream<'scope, u64, Vec<ChunkItem>> {
    let scope = items.scope();
    let route = Exchange::new(|item: &SourceItem| item.route());
    let queue = pool.queue.clone();
    items
        .unary_frontier(route, "Process tracks", move |_cap, info| {
            let operator = scope.worker().sync_activator_for(info.address.to_vec());
            // Unbounded: it holds at most the tracks in flight, which the input bounds.
            let (reply, replies): (Sender<Processed>, Receiver<Processed>) = unbounded();
            let mut held: HashMap<u64, Capability<u64>> = HashMap::new();
            let mut source_ended = false;
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for item in data.drain(..) {
                        held.insert(item.seq, cap.delayed(&item.seq, 0));
                        queue.push(Job { item, reply: reply.clone(), operator: operator.clone() });
                    }
                });
                if frontier.is_empty() && !source_ended {
                    source_ended = true;
                    queue.source_ended();
                }
                while let Ok((seq, parts)) = replies.try_recv() {
                    let cap = held.remove(&seq).expect("a capability is held for every track in flight");
                    output.session(&cap).give_iterator(parts.into_iter());
                }
            }
        })
        .container::<Vec<_>>()
}

#[cfg(test)]
mod tests {
    use super::next_job;

    #[test]
    fn the_earliest_job_while_the_source_flows_the_largest_once_it_has_ended() {
        let jobs = [(5, 300), (3, 100), (4, 900), (6, 900)];
        assert_eq!(next_job(jobs.into_iter(), false), Some(1), "time 3");
        assert_eq!(next_job(jobs.into_iter(), true), Some(2), "900 bytes, the earlier of times 4 and 6");
        assert_eq!(next_job(std::iter::empty(), true), None);
    }
}
