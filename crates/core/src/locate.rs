//! Where each key of a component document is written, so that every diagnostic can point at
//! its own line and column. The YAML parser gives a tree without positions; this scans the
//! document's text by indentation, which is how component files are written (block style).
//! Flow-style values (`{name: x, value: y}`) keep the position of their parent key.

use std::collections::HashMap;

/// A line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// A key as written in the document, under its parent's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAt {
    /// Lower-cased dotted path of the mapping holding the key (`spec.metadata[2]`).
    pub parent: String,
    /// The key as written.
    pub key: String,
    pub position: Position,
}

/// Positions of every key and list item of one document, by lower-cased dotted path
/// (`spec.type`, `spec.metadata[2]`, `spec.metadata[2].value`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations {
    paths: HashMap<String, Position>,
    keys: Vec<KeyAt>,
}

#[derive(Debug)]
enum Context {
    Map { indent: usize, path: String },
    List { indent: usize, path: String },
}

impl Context {
    fn indent(&self) -> usize {
        match self {
            Context::Map { indent, .. } | Context::List { indent, .. } => *indent,
        }
    }
}

impl Locations {
    /// Scans `body`, whose first line is line `first_line` of the file.
    pub fn scan(body: &str, first_line: u32) -> Self {
        Scanner::default().run(body, first_line)
    }

    /// The position of a lower-cased dotted path, or of its nearest located ancestor.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut path = path.to_lowercase();
        loop {
            if let Some(p) = self.paths.get(&path) {
                return Some(*p);
            }
            let cut = path.rfind(['.', '['])?;
            path.truncate(cut);
        }
    }

    /// Every key written directly under `parent` (lower-cased path; `""` for the root).
    pub fn keys_under<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a KeyAt> + 'a {
        self.keys.iter().filter(move |k| k.parent == parent)
    }
}

#[derive(Default)]
struct Scanner {
    out: Locations,
    stack: Vec<Context>,
    /// A key whose value is a block below it: (its indent, its path).
    pending: Option<(usize, String)>,
    counters: HashMap<String, usize>,
    /// Lines more indented than this belong to a block scalar (`|`, `>`).
    scalar_above: Option<usize>,
}

impl Scanner {
    fn run(mut self, body: &str, first_line: u32) -> Locations {
        for (i, raw) in body.lines().enumerate() {
            let line = first_line.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            let content = raw.trim_start_matches(' ');
            let indent = raw.len() - content.len();
            let content = content.trim_end();
            if let Some(above) = self.scalar_above {
                if indent > above || content.is_empty() {
                    continue;
                }
                self.scalar_above = None;
            }
            if content.is_empty() || content.starts_with('#') || content.starts_with("---") {
                continue;
            }
            self.line(line, indent, content);
        }
        self.out
    }

    fn line(&mut self, line: u32, indent: usize, content: &str) {
        if content == "-" || content.starts_with("- ") {
            let rest = content[1..].trim_start_matches(' ');
            let item_indent = indent + (content.len() - rest.len());
            let item = self.list_item(line, indent);
            self.stack.push(Context::Map {
                indent: item_indent,
                path: item,
            });
            if !rest.is_empty() {
                self.key(line, item_indent, rest);
            }
        } else {
            self.key(line, indent, content);
        }
    }

    fn list_item(&mut self, line: u32, indent: usize) -> String {
        while self.stack.last().is_some_and(|c| c.indent() > indent) {
            self.stack.pop();
        }
        let list = match self.stack.last() {
            Some(Context::List { indent: i, path }) if *i == indent => path.clone(),
            _ => {
                let path = self.pending.take().map(|(_, p)| p).unwrap_or_default();
                self.stack.push(Context::List {
                    indent,
                    path: path.clone(),
                });
                path
            }
        };
        self.pending = None;
        let counter = self.counters.entry(list.clone()).or_default();
        let item = format!("{list}[{counter}]");
        *counter += 1;
        self.record(&item, line, indent);
        item
    }

    fn key(&mut self, line: u32, indent: usize, content: &str) {
        while self.stack.last().is_some_and(|c| {
            c.indent() > indent || matches!(c, Context::List { indent: i, .. } if *i >= indent)
        }) {
            self.stack.pop();
        }
        let parent = match (self.stack.last(), self.pending.take()) {
            (Some(Context::Map { indent: i, path }), _) if *i == indent => path.clone(),
            (_, Some((key_indent, path))) if key_indent < indent => {
                self.stack.push(Context::Map {
                    indent,
                    path: path.clone(),
                });
                path
            }
            (Some(Context::Map { path, .. }), _) => path.clone(),
            _ => String::new(),
        };
        let Some((key, value)) = split_key(content) else {
            return;
        };
        let path = if parent.is_empty() {
            key.to_lowercase()
        } else {
            format!("{parent}.{}", key.to_lowercase())
        };
        self.record(&path, line, indent);
        self.out.keys.push(KeyAt {
            parent,
            key: key.to_owned(),
            position: Position {
                line,
                column: column(indent),
            },
        });
        let value = value.split(" #").next().unwrap_or("").trim();
        if value.is_empty() {
            self.pending = Some((indent, path));
        } else if value.starts_with('|') || value.starts_with('>') {
            self.scalar_above = Some(indent);
        }
    }

    fn record(&mut self, path: &str, line: u32, indent: usize) {
        self.out.paths.entry(path.to_owned()).or_insert(Position {
            line,
            column: column(indent),
        });
    }
}

fn column(indent: usize) -> u32 {
    u32::try_from(indent + 1).unwrap_or(u32::MAX)
}

/// `key: value` → (`key`, `value`), quotes removed from the key.
fn split_key(content: &str) -> Option<(&str, &str)> {
    let (key, value) = if let Some(quote @ ('"' | '\'')) = content.chars().next() {
        let end = content[1..].find(quote)? + 1;
        let after = content[end + 1..].trim_start();
        (&content[1..end], after.strip_prefix(':')?)
    } else {
        let colon = content
            .char_indices()
            .find(|&(i, c)| c == ':' && content[i + 1..].chars().next().is_none_or(|n| n == ' '))?
            .0;
        (content[..colon].trim_end(), &content[colon + 1..])
    };
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: web\nspec:\n  type: bindings.http\n  version: v1\n  metadata:\n  - name: url\n    value: http://x\n  - name: token\n    secretKeyRef:\n      name: t\n      key: k\n  - name: body\n    value: |\n      name: not-a-key\n  - {name: flow, value: 1}\nauth:\n  secretStore: envs\n";

    fn at(l: &Locations, path: &str) -> (u32, u32) {
        let p = l.find(path).expect(path);
        (p.line, p.column)
    }

    #[test]
    fn finds_keys_and_list_items() {
        let l = Locations::scan(DOC, 1);
        assert_eq!(at(&l, "kind"), (2, 1));
        assert_eq!(at(&l, "metadata.name"), (4, 3));
        assert_eq!(at(&l, "spec.version"), (7, 3));
        assert_eq!(at(&l, "spec.metadata[0]"), (9, 3));
        assert_eq!(at(&l, "spec.metadata[0].value"), (10, 5));
        assert_eq!(at(&l, "spec.metadata[1].secretKeyRef.key"), (14, 7));
        assert_eq!(at(&l, "spec.metadata[2].value"), (16, 5));
        assert_eq!(at(&l, "spec.metadata[3]"), (18, 3));
        // A flow mapping keeps the item's position.
        assert_eq!(at(&l, "spec.metadata[3].value"), (18, 3));
        assert_eq!(at(&l, "auth.secretstore"), (20, 3));
        assert!(
            l.keys_under("spec.metadata[2]")
                .all(|k| k.key != "name: not-a-key")
        );
        assert_eq!(l.keys_under("spec.metadata[2]").count(), 2);
    }

    #[test]
    fn lists_at_the_keys_indent_and_offsets() {
        let text = "spec:\n  metadata:\n  - name: a\n    vaule: 1\n  - name: b\nscopes:\n- app\n";
        let l = Locations::scan(text, 11);
        assert_eq!(at(&l, "spec.metadata[1].name"), (15, 5));
        let typo: Vec<&str> = l
            .keys_under("spec.metadata[0]")
            .map(|k| k.key.as_str())
            .collect();
        assert_eq!(typo, ["name", "vaule"]);
        assert_eq!(at(&l, "scopes[0]"), (17, 1));
    }
}
