//! How many timely workers run where: threads in this process, and optionally several
//! processes (on one or several machines) that form one dataflow (timely's cluster mode).

use std::path::PathBuf;

use anyhow::{Context, bail};

/// The `--workers/--processes/--process/--hostfile` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Worker threads in this process.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Processes in the cluster (each started with the same arguments and its own --process).
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// This process's index, 0 .. processes-1.
    #[arg(long, default_value_t = 0)]
    pub process: usize,
    /// File with one `host:port` per line, in process order (default: localhost:2101+i).
    #[arg(long)]
    pub hostfile: Option<PathBuf>,
}

impl Default for ClusterArgs {
    fn default() -> Self {
        Self { workers: 1, processes: 1, process: 0, hostfile: None }
    }
}

impl ClusterArgs {
    /// The timely configuration these options describe.
    pub fn timely_config(&self) -> anyhow::Result<timely::Config> {
        if self.workers == 0 || self.processes == 0 {
            bail!("--workers and --processes must be at least 1");
        }
        if self.process >= self.processes {
            bail!("--process {} must be below --processes {}", self.process, self.processes);
        }
        let communication = if self.processes > 1 {
            let addresses = match &self.hostfile {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading hostfile {}", path.display()))?;
                    let hosts: Vec<String> =
                        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
                    if hosts.len() < self.processes {
                        bail!("{}: {} addresses for {} processes", path.display(), hosts.len(), self.processes);
                    }
                    hosts[..self.processes].to_vec()
                }
                None => (0..self.processes).map(|i| format!("localhost:{}", 2101 + i)).collect(),
            };
            timely::CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses,
                report: false,
                zerocopy: false,
            }
        } else if self.workers > 1 {
            timely::CommunicationConfig::Process(self.workers)
        } else {
            timely::CommunicationConfig::Thread
        };
        Ok(timely::Config { communication, worker: timely::WorkerConfig::default() })
    }
}
