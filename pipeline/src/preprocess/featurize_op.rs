//! The featurize operator: decode + resample + features on a helper thread, never on the
//! worker thread, so the worker keeps moving data while a song is being decoded.
//!
//! ```text
//!  input ──► [retain capability at the track's time] ──► bounded channel ──► decode thread
//!                                                                              │ featurize
//!  output ◄── [emit with the retained capability, drop it] ◄── channel ◄──────┘ + activate
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crossbeam::channel::{Receiver, Sender, TrySendError, bounded};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;

use super::stages::{FeaturizedTrack, SourceItem, Stages};

/// Tracks handed to the decode thread but not yet returned.
const DECODE_QUEUE: usize = 2;

/// Deals the tracks out to the workers ([`SourceItem::route`]) and featurizes each there.
pub fn featurize<'scope>(
    items: Stream<'scope, u64, Vec<SourceItem>>,
    stages: Arc<Stages>,
) -> Stream<'scope, u64, Vec<FeaturizedTrack>> {
    let scope = items.scope();
    let route = Exchange::new(|item: &SourceItem| item.route());
    items
        .unary(route, "Featurize", move |_cap, info| {
            let activator = scope.worker().sync_activator_for(info.address.to_vec());
            let (to_thread, from_worker): (Sender<SourceItem>, Receiver<SourceItem>) = bounded(DECODE_QUEUE);
            let (to_worker, from_thread) = bounded::<FeaturizedTrack>(DECODE_QUEUE);
            std::thread::Builder::new()
                .name(format!("featurize-{}", scope.index()))
                .spawn(move || {
                    for item in from_worker {
                        let done = stages.featurize(item);
                        if to_worker.send(done).is_err() {
                            return;
                        }
                        // The operator may be gone at shutdown; nothing to do then.
                        let _ = activator.activate();
                    }
                })
                .expect("spawning a featurize thread");
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
                    match to_thread.try_send(item) {
                        Ok(()) => {}
                        Err(TrySendError::Full(item)) => {
                            waiting.push_front(item);
                            break;
                        }
                        Err(TrySendError::Disconnected(_)) => panic!("the featurize thread died"),
                    }
                }
                while let Ok(done) = from_thread.try_recv() {
                    let cap = held.remove(&done.seq).expect("a capability is held for every track in flight");
                    output.session(&cap).give(done);
                }
            }
        })
        .container::<Vec<_>>()
}
