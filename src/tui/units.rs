//! How numbers read on the dashboard: compact sizes, rates, ages and inline sparklines.

/// Bytes as `512B`, `1.5K`, `120M`, `2.0G`: at most four or five characters.
pub fn size(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    match i {
        0 => format!("{b}B"),
        _ if v < 10.0 => format!("{v:.1}{}", UNITS[i]),
        _ => format!("{v:.0}{}", UNITS[i]),
    }
}

/// Bytes per second, as [`size`] without the unit's `/s` (columns say it once).
pub fn rate(bps: f64) -> String {
    size(bps.max(0.0).round() as u64)
}

/// Seconds as `45s`, `12m`, `3h12m`, `4d2h`.
pub fn age(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86399 => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
        _ => format!("{}d{}h", secs / 86400, secs / 3600 % 24),
    }
}

/// The last `width` values of `data` as block characters scaled to `max` (the largest
/// value when `max` is 0), oldest first; short histories are padded on the left.
pub fn sparkline(data: impl DoubleEndedIterator<Item = u64> + ExactSizeIterator, width: usize, max: u64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let n = data.len().min(width);
    let tail: Vec<u64> = data.rev().take(n).collect();
    let top = if max > 0 { max } else { tail.iter().copied().max().unwrap_or(0) };
    let mut out = String::with_capacity(width * 3);
    out.push_str(&" ".repeat(width - n));
    for v in tail.iter().rev() {
        let i = if top == 0 { 0 } else { ((*v).min(top) * 7).div_ceil(top) as usize };
        out.push(BARS[i.min(7)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_compact() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(1023), "1023B");
        assert_eq!(size(1536), "1.5K");
        assert_eq!(size(512 * 1024 * 1024), "512M");
        assert_eq!(size(3 * 1024 * 1024 * 1024 / 2), "1.5G");
    }

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(125), "2m");
        assert_eq!(age(3 * 3600 + 12 * 60), "3h12m");
        assert_eq!(age(2 * 86400 + 5 * 3600), "2d5h");
    }

    #[test]
    fn sparkline_scales_and_pads() {
        assert_eq!(sparkline([0u64, 7, 14].into_iter(), 5, 0), "  ▁▅█");
        assert_eq!(sparkline([1u64, 2, 3, 4].into_iter(), 2, 4), "▇█");
        assert_eq!(sparkline(std::iter::empty(), 3, 0), "   ");
        // Values above the scale are clipped, zero everywhere is the lowest bar.
        assert_eq!(sparkline([0u64, 0, 99].into_iter(), 3, 10), "▁▁█");
    }
}
