//! Polyak averaging: an exponential moving average of the trainable weights, updated after every
//! optimizer step. Validation, the checkpoints' weights files and so generation use the average;
//! training goes on from the live weights.
//!
//! ```text
//! after update n:  average ← d·average + (1 − d)·weights,   d = min(decay, (1 + n) / (10 + n))
//! ```
//! The warm-up of `d` lets the average follow the fast early changes instead of dragging the
//! random initialisation along (the `num_updates` form of TensorFlow's
//! `ExponentialMovingAverage`). Late in training the average smooths the step-to-step jitter
//! of the weights, which a model scored on a few windows shows as noise in its metrics.

use tch::{Tensor, nn};

use crate::optim::trainable_by_name;

/// The moving average of a var store's trainable variables (sorted by name).
#[derive(Debug)]
pub struct WeightAverage {
    decay: f64,
    live: Vec<(String, Tensor)>,
    average: Vec<Tensor>,
}

impl WeightAverage {
    /// An average of `vs`'s trainable variables, starting at their current values.
    pub fn new(vs: &nn::VarStore, decay: f64) -> Self {
        let live = trainable_by_name(vs);
        let average = live.iter().map(|(_, t)| t.detach().copy()).collect();
        Self { decay, live, average }
    }

    /// The decay applied after update number `updates` (1-based).
    pub fn decay_at(&self, updates: i64) -> f64 {
        let n = updates.max(0) as f64;
        self.decay.min((1.0 + n) / (10.0 + n))
    }

    /// Folds the live weights into the average after update number `updates`.
    pub fn update(&mut self, updates: i64) {
        let weight = 1.0 - self.decay_at(updates);
        tch::no_grad(|| {
            for ((_, live), average) in self.live.iter().zip(&mut self.average) {
                let _ = average.lerp_(live, weight);
            }
        });
    }

    /// Exchanges the live weights and the average in place (twice restores both).
    pub fn swap(&mut self) {
        tch::no_grad(|| {
            for ((_, live), average) in self.live.iter_mut().zip(&mut self.average) {
                let held = live.detach().copy();
                live.copy_(average);
                average.copy_(&held);
            }
        });
    }

    /// The average's value of variable `name`, if it is averaged.
    pub fn averaged(&self, name: &str) -> Option<&Tensor> {
        self.live.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok().map(|i| &self.average[i])
    }

    /// Sets the average to the live weights' current values.
    pub fn reset_to_live(&mut self) {
        tch::no_grad(|| {
            for ((_, live), average) in self.live.iter().zip(&mut self.average) {
                average.copy_(live);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;

    #[test]
    fn the_average_follows_the_weights_with_a_warming_decay() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[3], nn::Init::Const(0.0));
        let mut average = WeightAverage::new(&vs, 0.9);
        assert!((average.decay_at(1) - 2.0 / 11.0).abs() < 1e-12, "warming up");
        assert!((average.decay_at(1000) - 0.9).abs() < 1e-12, "capped at the decay");
        tch::no_grad(|| {
            let _ = w.detach().fill_(1.0);
        });
        average.update(1);
        let expected = 1.0 - 2.0 / 11.0;
        let value = average.averaged("w").unwrap().mean(Kind::Float).double_value(&[]);
        assert!((value - expected).abs() < 1e-6, "{value}");
        assert!(average.averaged("missing").is_none());

        average.swap();
        assert!((w.mean(Kind::Float).double_value(&[]) - expected).abs() < 1e-6, "the net now holds the average");
        average.swap();
        assert_eq!(w.mean(Kind::Float).double_value(&[]), 1.0, "and the live weights are back");

        average.reset_to_live();
        assert_eq!(average.averaged("w").unwrap().mean(Kind::Float).double_value(&[]), 1.0);
    }
}
