//! AdamW with decoupled weight decay, gradient-norm clipping and a cosine schedule with warm
//! restarts — written out so its state (moments, step) is saved and restored exactly.
//!
//! ```text
//! lr: warm-up ╱ then cosine cycles of period P, P·m, P·m², … down to min_lr_fraction·peak
//! ```

use tch::{Kind, Tensor, nn};

use crate::config::TrainingConfig;

/// The learning rate at `step` (0-based) under `config`.
pub fn learning_rate(config: &TrainingConfig, step: u64) -> f64 {
    let peak = config.learning_rate;
    if step < config.warmup_steps {
        return peak * (step + 1) as f64 / config.warmup_steps as f64;
    }
    let (mut t, mut period) = (step - config.warmup_steps, config.restart_period);
    while t >= period {
        t -= period;
        period = period.saturating_mul(config.restart_mult);
    }
    let floor = peak * config.min_lr_fraction;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t as f64 / period as f64).cos())
}

/// `vs`'s trainable variables with their names, sorted by name: the order of the optimizer's
/// and the weight average's per-variable state.
pub(crate) fn trainable_by_name(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// AdamW over a var store's trainable variables (sorted by name).
#[derive(Debug)]
pub struct AdamW {
    params: Vec<(String, Tensor)>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    /// Updates applied so far.
    pub updates: i64,
    betas: (f64, f64),
    weight_decay: f64,
}

const EPS: f64 = 1e-8;

impl AdamW {
    /// An optimizer over `vs`'s trainable variables.
    pub fn new(vs: &nn::VarStore, config: &TrainingConfig) -> Self {
        let params = trainable_by_name(vs);
        let zeros = |p: &Vec<(String, Tensor)>| p.iter().map(|(_, t)| t.zeros_like()).collect();
        Self {
            first: zeros(&params),
            second: zeros(&params),
            params,
            updates: 0,
            betas: config.betas,
            weight_decay: config.weight_decay,
        }
    }

    /// Clears every gradient.
    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// The global gradient norm (before clipping).
    pub fn grad_norm(&self) -> f64 {
        let squares: Vec<Tensor> = self
            .params
            .iter()
            .map(|(_, p)| p.grad())
            .filter(|g| g.defined())
            .map(|g| g.pow_tensor_scalar(2).sum(Kind::Float))
            .collect();
        if squares.is_empty() {
            return 0.0;
        }
        Tensor::stack(&squares, 0).sum(Kind::Float).sqrt().double_value(&[])
    }

    /// One update at learning rate `lr`, gradients scaled so their norm is at most `clip`
    /// (`norm` = [`AdamW::grad_norm`]). Weight decay skips biases and norms (1-d tensors).
    pub fn step(&mut self, lr: f64, norm: f64, clip: f64) {
        let scale = if norm > clip { clip / (norm + 1e-6) } else { 1.0 };
        self.updates += 1;
        let (b1, b2) = self.betas;
        let correction1 = 1.0 - b1.powi(self.updates as i32);
        let correction2 = 1.0 - b2.powi(self.updates as i32);
        tch::no_grad(|| {
            for (((_, p), m), v) in self.params.iter_mut().zip(&mut self.first).zip(&mut self.second) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let g = g * scale;
                let _ = m.g_mul_scalar_(b1).g_add_(&(&g * (1.0 - b1)));
                let _ = v.g_mul_scalar_(b2).g_add_(&(&g * &g * (1.0 - b2)));
                if self.weight_decay > 0.0 && p.dim() > 1 {
                    let _ = p.g_mul_scalar_(1.0 - lr * self.weight_decay);
                }
                let update = (&*m / correction1) / ((&*v / correction2).sqrt() + EPS);
                let _ = p.g_sub_(&(update * lr));
            }
        });
    }

    /// The moments as named tensors (`first.<var>`, `second.<var>`), for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let named = |prefix: &str, ts: &[Tensor]| -> Vec<(String, Tensor)> {
            self.params.iter().zip(ts).map(|((n, _), t)| (format!("{prefix}.{n}"), t.shallow_clone())).collect()
        };
        let mut out = named("first", &self.first);
        out.extend(named("second", &self.second));
        out
    }

    /// Restores the moments saved by [`AdamW::state`] and the update count.
    pub fn load_state(&mut self, named: &[(String, Tensor)], updates: i64) -> Result<(), String> {
        let find = |name: String| named.iter().find(|(n, _)| *n == name).map(|(_, t)| t).ok_or(name);
        tch::no_grad(|| {
            for (((n, _), m), v) in self.params.iter().zip(&mut self.first).zip(&mut self.second) {
                m.copy_(find(format!("first.{n}")).map_err(|e| format!("optimizer state lacks {e}"))?);
                v.copy_(find(format!("second.{n}")).map_err(|e| format!("optimizer state lacks {e}"))?);
            }
            Ok::<(), String>(())
        })?;
        self.updates = updates;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_restarts() {
        let c = TrainingConfig {
            learning_rate: 1.0,
            warmup_steps: 10,
            restart_period: 100,
            restart_mult: 2,
            min_lr_fraction: 0.0,
            ..Default::default()
        };
        assert!((learning_rate(&c, 0) - 0.1).abs() < 1e-12);
        assert!((learning_rate(&c, 10) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&c, 60) - 0.5).abs() < 1e-9);
        assert!((learning_rate(&c, 110) - 1.0).abs() < 1e-12, "restart after 100 steps");
        assert!((learning_rate(&c, 210) - 0.5).abs() < 1e-9, "second cycle is 200 steps");
    }

    #[test]
    fn adamw_minimises_a_quadratic() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[2, 2], nn::Init::Const(3.0));
        let mut opt = AdamW::new(&vs, &TrainingConfig { weight_decay: 0.0, ..Default::default() });
        for _ in 0..300 {
            opt.zero_grad();
            let loss = (&w * &w).sum(Kind::Float);
            loss.backward();
            let norm = opt.grad_norm();
            opt.step(0.05, norm, 1e9);
        }
        assert!(w.abs().max().double_value(&[]) < 0.05);
    }
}
