//! `nightshift pause` and `nightshift resume`: the kill switch, checked (who, why) before the
//! store is opened, switched in the store (audited there), and what it did, printed.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::StoreArg;
use crate::config::Settings;
use crate::store::Switched;

/// The longest reason the kill switch records.
const MAX_REASON_CHARS: usize = 1000;

/// A pull or a lift of the kill switch, checked before the store is opened.
pub(super) struct Switch<'a> {
    pause: bool,
    actor: &'a str,
    reason: &'a str,
}

impl<'a> Switch<'a> {
    pub(super) fn new(pause: bool, actor: &'a str, reason: &'a str) -> Result<Self> {
        let (actor, reason) = (actor.trim(), reason.trim());
        if actor.is_empty() {
            anyhow::bail!("--as must name who is switching (it is recorded in the audit log)");
        }
        if pause && reason.is_empty() {
            anyhow::bail!(
                "pause needs a --reason: it is recorded in the audit log and shown on every report"
            );
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            anyhow::bail!("--reason is longer than {MAX_REASON_CHARS} characters");
        }
        Ok(Self {
            pause,
            actor,
            reason,
        })
    }

    pub(super) async fn run(
        self,
        store: StoreArg,
        settings: &Settings,
        out: &mut impl Write,
    ) -> Result<ExitCode> {
        let store = super::connect(store.store, settings).await?;
        let now = jiff::Timestamp::now();
        let switched = if self.pause {
            store.pause(self.actor, self.reason, now).await?
        } else {
            store.resume(self.actor, self.reason, now).await?
        };
        let location = store.location();
        match (self.pause, switched) {
            (true, Switched::Changed) => writeln!(
                out,
                "paused: no daemon on {location} sends anything to the cluster until `nightshift resume`"
            )?,
            (false, Switched::Changed) => {
                writeln!(out, "resumed: held plans run at each daemon's next poll")?
            }
            (true, Switched::AlreadySo) => match store.paused().await? {
                Some(pause) => writeln!(out, "already {pause}")?,
                None => writeln!(out, "not paused: it was lifted meanwhile; try again")?,
            },
            (false, Switched::AlreadySo) => writeln!(out, "not paused: nothing to resume")?,
        }
        if settings.engine.paused {
            writeln!(
                out,
                "note: engine.paused is set in the settings file; daemons using it stay paused"
            )?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
