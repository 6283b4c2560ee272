//! Kubernetes resource quantities (`500m`, `1.5`, `512Mi`, `1G`, `1e3`) as numbers, so rules
//! can compare `512Mi` with `1Gi`.
//!
//! The grammar is apimachinery's: an optionally signed decimal number followed by a binary
//! suffix (`Ki` … `Ei`), a decimal SI suffix (`n`, `u`, `m`, `k`, `M`, `G`, `T`, `P`, `E`) or
//! a decimal exponent (`e3`, `E-2`). The value is in base units: bytes for memory, cores for
//! CPU.

/// The longest quantity accepted; Kubernetes' own are far shorter.
const MAX_QUANTITY_LEN: usize = 64;

/// Parses a quantity into its value in base units.
pub fn parse(text: &str) -> Result<f64, String> {
    let invalid = || {
        format!(
            "invalid quantity `{}`: Kubernetes quantities look like `250m`, `1.5`, `512Mi` or `2G`",
            crate::glob::shown(text)
        )
    };
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.len() > MAX_QUANTITY_LEN {
        return Err(invalid());
    }
    let bytes = trimmed.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits_start = end;
    while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
        end += 1;
    }
    let number = &trimmed[..end];
    let digits = &trimmed[digits_start..end];
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return Err(invalid());
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let suffix = &trimmed[end..];
    let factor = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        // Divided rather than multiplied by 1e-3: `102m` is 0.102, not 0.10200000000000001.
        "n" => return Ok(value / 1e9),
        "u" => return Ok(value / 1e6),
        "m" => return Ok(value / 1e3),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: i32 = exponent[1..].parse().map_err(|_| invalid())?;
            if !(-30..=30).contains(&power) {
                return Err(invalid());
            }
            return Ok(if power < 0 {
                value / 10f64.powi(-power)
            } else {
                value * 10f64.powi(power)
            });
        }
        _ => return Err(invalid()),
    };
    Ok(value * factor)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn binary_decimal_and_exponent_suffixes() {
        assert_eq!(parse("512Mi").unwrap(), 512.0 * 1024.0 * 1024.0);
        assert_eq!(parse("1Gi").unwrap(), 1024.0 * 1024.0 * 1024.0);
        assert!(parse("512Mi").unwrap() < parse("1Gi").unwrap());
        assert_eq!(parse("250m").unwrap(), 0.25);
        assert_eq!(parse("102m").unwrap(), 0.102);
        assert_eq!(parse("1.5").unwrap(), 1.5);
        assert_eq!(parse("2").unwrap(), 2.0);
        assert_eq!(parse("1G").unwrap(), 1e9);
        assert_eq!(parse("1e3").unwrap(), 1000.0);
        assert_eq!(parse("5E-1").unwrap(), 0.5);
        assert_eq!(parse("100k").unwrap(), 100_000.0);
        assert_eq!(parse(".5").unwrap(), 0.5);
        assert_eq!(parse("+1Ki").unwrap(), 1024.0);
        assert_eq!(parse(" 64Mi ").unwrap(), 64.0 * 1024.0 * 1024.0);
    }

    #[test]
    fn malformed_quantities_are_errors_that_say_what_is_expected() {
        for bad in [
            "", "Mi", "1.2.3", "1MB", "1mi", "one", "1 Gi", "1e", "1e999", ".", "--1", "1i",
        ] {
            let error = parse(bad).unwrap_err();
            assert!(error.contains("invalid quantity"), "{bad}: {error}");
        }
        assert!(parse(&"9".repeat(100)).is_err());
    }
}
