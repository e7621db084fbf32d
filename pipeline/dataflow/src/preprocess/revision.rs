//! One hub commit per output: a rerun reads the commit the output was made from, or moves the
//! output to a new one on purpose (`--accept-new-revision`), redoing exactly the shards whose
//! content changed.
//!
//! ```text
//!  manifest.configs.source {repo, config, sha}  vs  this run's PinnedSource (the listing at its sha)
//!    same sha ─────────────────────────────────► go on (resume)
//!    no chunk committed yet ───────────────────► go on, recording this sha
//!    other repo/config, or a local source ─────► refused: another --output
//!    other sha ─ without --accept-new-revision ► refused, naming both commits
//!              └ with it: shards whose marker holds the content listed now keep their chunks
//!                (marker moved to the new sha); every other chunk and marker is removed
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;

use super::set_groups::{is_chunk_of, table_dirs};
use shards::chunks::shard_stem;
use shards::done::{self, DoneShard, PinnedSource};
use shards::entries_of;
use shards::manifest::{CommitRecord, ManifestConfigs, read_commits};

/// Checks this run's source (`pinned`: a hub source at its commit, `None` for a local one)
/// against the one the output at `out` records (`recorded`); moves the output to the new
/// commit when `accept_new_revision` allows it. Errors name the output and both sources.
pub(crate) fn reconcile(
    out: &Path,
    recorded: &ManifestConfigs,
    pinned: Option<&PinnedSource>,
    accept_new_revision: bool,
) -> anyhow::Result<()> {
    let Some(pinned) = pinned else {
        if let Some(source) = &recorded.source {
            anyhow::bail!(
                "{}: this output was read from {source}, this run reads another source; use another --output",
                out.display()
            );
        }
        return Ok(());
    };
    let now = &pinned.revision;
    if let Some(was) = &recorded.source {
        if (&was.repo, &was.config) != (&now.repo, &now.config) {
            anyhow::bail!(
                "{}: this output was read from hf://{}/{}, this run reads hf://{}/{}; use another --output",
                out.display(),
                was.repo,
                was.config,
                now.repo,
                now.config
            );
        }
        if was.sha == now.sha {
            return Ok(());
        }
    }
    if read_commits(out)?.is_empty() {
        return Ok(());
    }
    if !accept_new_revision {
        let (was, finish) = match &recorded.source {
            Some(was) => (
                format!("commit {}", was.sha),
                format!("add `?revision={}` to the source to finish it at that commit, or ", was.sha),
            ),
            None => {
                ("a commit it does not record (it was written before outputs recorded one)".to_owned(), String::new())
            }
        };
        anyhow::bail!(
            "{}: this output was read from hf://{}/{} at {was}, but the revision now resolves to commit {}; {finish}pass --accept-new-revision to move the output to {} (the shards whose content changed are redone)",
            out.display(),
            now.repo,
            now.config,
            now.sha,
            now.sha
        );
    }
    move_to(out, pinned)
}

/// Keeps the chunks of the shards whose marker holds the content `pinned` lists for them (their
/// markers now name its commit) and removes every other chunk and marker of the output.
fn move_to(out: &Path, pinned: &PinnedSource) -> anyhow::Result<()> {
    let (kept, dropped): (Vec<DoneShard>, Vec<DoneShard>) =
        done::markers(out)?.into_iter().partition(|marker| done::is_done_for(marker, Some(pinned)));
    let kept_stems: BTreeSet<String> = kept.iter().map(|marker| shard_stem(&marker.shard)).collect();
    let is_stale = |chunk: &str| !kept_stems.iter().any(|stem| is_chunk_of(chunk, stem));
    let stale: Vec<String> = read_commits(out)?.into_iter().map(|r| r.chunk).filter(|c| is_stale(c)).collect();
    for chunk in &stale {
        CommitRecord::remove(out, chunk)?;
    }
    for table in table_dirs(out)? {
        for file in entries_of(&table)? {
            let chunk = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if is_stale(&chunk) {
                operators::atomic::remove(&file).with_context(|| format!("removing {}", file.display()))?;
            }
        }
    }
    for marker in &dropped {
        done::remove_marker(out, &marker.shard, marker.source.as_ref())?;
    }
    for marker in &kept {
        // The same bytes at the new commit: the marker a fresh run there writes.
        done::mark_if_complete(out, &marker.shard, marker.chunks, Some(pinned))?;
    }
    log::info!(
        "{}: moved to {}: {} shards unchanged are kept, {} chunks of the others removed (they are read again)",
        out.display(),
        pinned.revision,
        kept.len(),
        stale.len()
    );
    Ok(())
}
