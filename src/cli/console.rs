use std::io::Write;

use crate::client::{Client, Ended};

#[derive(Debug, clap::Args)]
pub struct Args {
    pub name: String,
    /// Print the console output kept so far and exit.
    #[arg(long)]
    pub show_log: bool,
    /// Escape key: Ctrl + this letter, then `q` detaches (`^a`, `b`, ...).
    #[arg(long, default_value = "^a")]
    pub escape: String,
}

pub fn run(client: &Client, a: Args) -> anyhow::Result<i32> {
    if a.show_log {
        std::io::stdout().write_all(&client.console_log(&a.name)?)?;
        return Ok(0);
    }
    attach(client, &a.name, &a.escape, false)
}

/// Attach (also for `start --console`), telling the viewer how to leave.
pub fn attach(client: &Client, name: &str, escape: &str, replay: bool) -> anyhow::Result<i32> {
    let key = escape_key(escape).ok_or_else(|| anyhow::anyhow!("--escape {escape:?}: use a letter, e.g. ^a or b"))?;
    // The daemon's console helper says how to detach once it is attached.
    match client.console(name, key, replay)? {
        Ended::Detached => eprintln!("\r\nDetached from {name}."),
        Ended::Closed => eprintln!("\r\nThe console of {name} closed (the container stopped)."),
        // The reason is on stderr already.
        Ended::Failed(code) => return Ok(code),
    }
    Ok(0)
}

/// `^a`, `ctrl-a`, `a` -> 1 (Ctrl-A).
fn escape_key(spec: &str) -> Option<u8> {
    let s = spec.to_ascii_lowercase();
    let letter = s.strip_prefix('^').or_else(|| s.strip_prefix("ctrl-")).or_else(|| s.strip_prefix("ctrl+")).unwrap_or(&s);
    match letter.as_bytes() {
        [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_keys_parse() {
        assert_eq!(super::escape_key("^a"), Some(1));
        assert_eq!(super::escape_key("b"), Some(2));
        assert_eq!(super::escape_key("Ctrl-B"), Some(2));
        assert_eq!(super::escape_key("^1"), None);
    }
}
