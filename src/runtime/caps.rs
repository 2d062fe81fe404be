//! Capability sets of the container's init (bounding first: later sets must fit inside it).

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use super::{Error, Result};

fn convert(set: &Option<Capabilities>) -> Result<CapsHashSet> {
    set.iter()
        .flatten()
        .map(|c| {
            let name = serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            Capability::from_str(&name).map_err(|_| Error::Spec(format!("unknown capability {name}")))
        })
        .collect()
}

/// Apply the spec's sets to the calling thread. We run as root, so after execve the
/// permitted and effective sets become (inheritable | bounding): the bounding set is what
/// really limits init, and is dropped first.
pub fn apply(spec: &LinuxCapabilities) -> Result<()> {
    let bounding = convert(spec.bounding())?;
    let err = |what: &'static str| move |e: caps::errors::CapsError| Error::Caps { what, reason: e.to_string() };
    for cap in caps::all() {
        if !bounding.contains(&cap) {
            // EINVAL: a capability this kernel does not know; nothing to drop.
            if let Err(e) = caps::drop(None, CapSet::Bounding, cap) {
                if caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                    return Err(err("drop from the bounding set")(e));
                }
            }
        }
    }
    let effective = convert(spec.effective())?;
    let permitted = convert(spec.permitted())?;
    caps::set(None, CapSet::Effective, &effective.intersection(&permitted).copied().collect())
        .map_err(err("set the effective set"))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(err("set the permitted set"))?;
    caps::set(None, CapSet::Effective, &effective).map_err(err("set the effective set"))?;
    caps::set(None, CapSet::Inheritable, &convert(spec.inheritable())?).map_err(err("set the inheritable set"))?;
    // The kernel raises an ambient capability only when it is also permitted and
    // inheritable; like runc and crun, skip those it refuses (`runc spec` lists ambient
    // capabilities without inheritable ones) rather than fail the container.
    caps::clear(None, CapSet::Ambient).map_err(err("clear the ambient set"))?;
    for cap in convert(spec.ambient())? {
        let _ = caps::raise(None, CapSet::Ambient, cap);
    }
    Ok(())
}
