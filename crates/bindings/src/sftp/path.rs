//! Remote paths: daprd's `sftp.Join(rootPath, fileName)` (a lexical join that cleans `.` and
//! `..`), plus bindery's rule that the result stays inside the component's `rootPath`.

/// Go's `path.Clean` for slash-separated paths.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's `path.Join(a, b)`: empty elements are skipped, the result is cleaned.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(b),
        (false, true) => clean(a),
        (false, false) => clean(&format!("{a}/{b}")),
    }
}

/// Whether `path` (cleaned) is `root` (cleaned) or below it.
pub fn is_within(root: &str, path: &str) -> bool {
    let root = clean(root);
    let path = clean(path);
    if root == "/" {
        return path.starts_with('/');
    }
    if root == "." {
        return path != ".." && !path.starts_with("../") && !path.starts_with('/');
    }
    path == root
        || path
            .strip_prefix(&root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Go's `path.Split`: everything up to the last slash, and the rest.
pub fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("a/b/../c", "a/c"),
            ("/a/./b//c/", "/a/b/c"),
            ("/../a", "/a"),
            ("../../a", "../../a"),
            ("a/../..", ".."),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn join_like_go() {
        assert_eq!(join("/root", "file.txt"), "/root/file.txt");
        assert_eq!(join("/root", "/etc/passwd"), "/root/etc/passwd");
        assert_eq!(join("/root", "../etc/passwd"), "/etc/passwd");
        assert_eq!(join("/root", ""), "/root");
        assert_eq!(join("", "a"), "a");
    }

    #[test]
    fn confinement() {
        assert!(is_within("/srv/data", "/srv/data"));
        assert!(is_within("/srv/data/", "/srv/data/a/b"));
        assert!(!is_within("/srv/data", "/srv/database"));
        assert!(!is_within("/srv/data", "/srv"));
        assert!(!is_within("/srv/data", &join("/srv/data", "a/../../x")));
        assert!(is_within("/", "/anything"));
        assert!(is_within("upload", "upload/a"));
        assert!(!is_within("upload", "other"));
    }

    #[test]
    fn split_like_go() {
        assert_eq!(split("/a/b/c.txt"), ("/a/b/", "c.txt"));
        assert_eq!(split("c.txt"), ("", "c.txt"));
    }
}
