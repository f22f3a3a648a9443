//! Data held back by a two-input operator until its time is complete: both ingest and the
//! window rows process an epoch only when both of their inputs have passed it.

use crate::model::Time;
use std::collections::BTreeMap;
use timely::dataflow::operators::{Capability, InputCapability};

/// Data by time, with the capability to send its results.
pub type Stash<D> = BTreeMap<Time, (Capability<Time>, Vec<D>)>;

/// Appends a message to the stash at the message's time.
pub fn push<D>(stash: &mut Stash<D>, cap: InputCapability<Time>, port: usize, data: &mut Vec<D>) {
    // Messages sent under no capability carry no time and make no progress claim (see
    // `InputCapability::least`); our inputs never send them.
    if let Some(capability) = cap.retain_least(port) {
        push_at(stash, capability, data);
    }
}

/// Appends `data` to the stash at the capability's time.
pub fn push_at<D>(stash: &mut Stash<D>, capability: Capability<Time>, data: &mut Vec<D>) {
    let time = *capability.time();
    stash
        .entry(time)
        .or_insert_with(|| (capability, Vec::new()))
        .1
        .append(data);
}

/// Appends differential updates `(data, time, diff)` each at its own time (which may be later
/// than the message's).
pub fn push_updates<D>(
    stash: &mut Stash<(D, Time, isize)>,
    cap: &InputCapability<Time>,
    port: usize,
    data: &mut Vec<(D, Time, isize)>,
) {
    for update in data.drain(..) {
        let time = update.1;
        stash
            .entry(time)
            .or_insert_with(|| (cap.delayed(&time, port), Vec::new()))
            .1
            .push(update);
    }
}

/// One complete time of two stashes: its capability, the time, and each stash's data.
pub type Ready<A, B> = (Capability<Time>, Time, Vec<A>, Vec<B>);

/// The earliest time either stash holds, once `pending(time)` (an input may still send data
/// for it) is false: its capability and both stashes' data for it.
pub fn take_ready<A, B>(
    a: &mut Stash<A>,
    b: &mut Stash<B>,
    pending: impl Fn(&Time) -> bool,
) -> Option<Ready<A, B>> {
    let time = [a.keys().next(), b.keys().next()]
        .into_iter()
        .flatten()
        .min()
        .copied()?;
    if pending(&time) {
        return None;
    }
    let (a, b) = (a.remove(&time), b.remove(&time));
    let capability = match (&a, &b) {
        (Some((cap, _)), _) | (None, Some((cap, _))) => cap.clone(),
        (None, None) => return None,
    };
    let (a, b) = (a.map(|(_, v)| v), b.map(|(_, v)| v));
    Some((
        capability,
        time,
        a.unwrap_or_default(),
        b.unwrap_or_default(),
    ))
}
