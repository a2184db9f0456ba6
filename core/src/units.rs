//! Sizes in words for people: binary units (KiB, MiB, GiB, TiB), one decimal at most, and the
//! exact count of bytes beside them where it matters (a limit, a refusal).

/// The units after bytes, each 1024 times the one before.
const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `bytes` in the largest binary unit it makes at least one of, with one decimal when that
/// decimal is not zero: `512 bytes`, `1 KiB`, `1.5 KiB`, `20 MiB`, `9.5 MiB`.
pub fn size(bytes: u64) -> String {
    if bytes < 1024 {
        return match bytes {
            1 => "1 byte".to_owned(),
            n => format!("{n} bytes"),
        };
    }
    let mut unit = 0;
    // Tenths of the unit, rounded to the nearest; a value that rounds up to 1024 of a unit is
    // shown as 1 of the next.
    let mut tenths = rounded_tenths(bytes, 1024);
    while unit + 1 < UNITS.len() && tenths >= 10 * 1024 {
        unit += 1;
        tenths = rounded_tenths(bytes, 1u128 << (10 * (unit + 1)));
    }
    match tenths % 10 {
        0 => format!("{} {}", tenths / 10, UNITS[unit]),
        d => format!("{}.{d} {}", tenths / 10, UNITS[unit]),
    }
}

/// [`size`], then the exact number of bytes with thousands separators when it says more:
/// `20 MiB (20,971,520 bytes)`, `512 bytes`.
pub fn size_exact(bytes: u64) -> String {
    if bytes < 1024 {
        size(bytes)
    } else {
        format!("{} ({} bytes)", size(bytes), thousands(bytes))
    }
}

/// `n` with a comma between each group of three digits: `20,971,520`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rounded_tenths(bytes: u64, unit: u128) -> u128 {
    (u128::from(bytes) * 10 + unit / 2) / unit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units_with_at_most_one_decimal() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1024), "1 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(20 << 20), "20 MiB");
        assert_eq!(size(10_000_000), "9.5 MiB");
        assert_eq!(size(100 << 20), "100 MiB");
        assert_eq!(size(2 << 30), "2 GiB");
        assert_eq!(size(1_000_000_000), "953.7 MiB");
        assert_eq!(size(5 << 40), "5 TiB");
        assert_eq!(size(u64::MAX), "16 EiB");
    }

    #[test]
    fn a_size_that_rounds_up_to_a_whole_unit_moves_to_the_next() {
        assert_eq!(size((1 << 20) - 1), "1 MiB");
        assert_eq!(size((1 << 20) - 30), "1 MiB");
        assert_eq!(size((1 << 20) - 100), "1023.9 KiB");
    }

    #[test]
    fn exact_sizes_give_the_bytes_with_separators() {
        assert_eq!(size_exact(20 << 20), "20 MiB (20,971,520 bytes)");
        assert_eq!(size_exact(999), "999 bytes");
        assert_eq!(size_exact(1024), "1 KiB (1,024 bytes)");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(100), "100");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
