//! Reading the kernel's mount tables (`/proc/self/mounts`, `mountinfo`),
//! shared by the agent's volumes and the Linux runtime's cgroup discovery.

/// The kernel escapes spaces, tabs, newlines and backslashes in mount paths as
/// three-digit octal (`\040`); turn them back into bytes.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| std::str::from_utf8(d).ok()).and_then(|d| u8::from_str_radix(d, 8).ok());
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn octal_escapes_become_bytes() {
        assert_eq!(unescape(r"/data/my\040dir"), "/data/my dir");
        assert_eq!(unescape(r"/a\134b"), "/a\\b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
