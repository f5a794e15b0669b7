//! `status.completedIndexes` of Indexed Jobs: sets of indexes written as
//! sorted ranges, e.g. `"1,3-5,7"`.

use std::collections::BTreeSet;

/// Parses the range list; malformed pieces are skipped, so a hand-edited
/// status can never stop the controller.
pub fn parse(text: &str) -> BTreeSet<i32> {
    let mut set = BTreeSet::new();
    for piece in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bounds = match piece.split_once('-') {
            Some((a, b)) => a.parse::<i32>().ok().zip(b.parse::<i32>().ok()),
            None => piece.parse::<i32>().ok().map(|i| (i, i)),
        };
        if let Some((first, last)) = bounds.filter(|(a, b)| 0 <= *a && a <= b) {
            set.extend(first..=last);
        }
    }
    set
}

/// Writes the set as sorted, merged ranges.
pub fn format(set: &BTreeSet<i32>) -> String {
    let mut ranges: Vec<(i32, i32)> = Vec::new();
    for &i in set {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == i => *last = i,
            _ => ranges.push((i, i)),
        }
    }
    let text: Vec<String> = ranges.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
    text.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_merged_ranges() {
        assert_eq!(format(&[0, 1, 2, 4, 6, 7].into()), "0-2,4,6-7");
        assert_eq!(format(&BTreeSet::new()), "");
    }

    #[test]
    fn parses_what_it_formats_and_skips_garbage() {
        assert_eq!(parse("0-2,4,6-7"), [0, 1, 2, 4, 6, 7].into());
        assert_eq!(parse("x,3-1,-2,5"), [5].into());
        assert_eq!(parse(""), BTreeSet::new());
    }
}
