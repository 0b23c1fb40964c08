//! One metadata field of a binding: its name, aliases, type, default and documentation. The
//! same `const` is the decoder's vocabulary and the reference docs' row.

/// Which side of a binding a field or capability belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Bool,
    /// A Go duration (`5s`, `1h30m`) or a bare number of seconds.
    Duration,
    /// A Kubernetes quantity (`100Mi`).
    ByteSize,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Bool => "bool",
            FieldType::Duration => "duration",
            FieldType::ByteSize => "bytesize",
        }
    }
}

/// One metadata field of a component. Declared as a `const` next to the component's config
/// struct and used both to decode the field and to document it.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub ty: FieldType,
    pub required: bool,
    pub default: Option<&'static str>,
    pub description: &'static str,
    pub example: Option<&'static str>,
    /// `Some` when the field only applies to one direction.
    pub direction: Option<Direction>,
    pub sensitive: bool,
    /// daprd reads this key with an exact-case map lookup.
    pub exact_case: bool,
}

impl Field {
    pub const fn new(name: &'static str, ty: FieldType, description: &'static str) -> Self {
        Self {
            name,
            aliases: &[],
            ty,
            required: false,
            default: None,
            description,
            example: None,
            direction: None,
            sensitive: false,
            exact_case: false,
        }
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn default_value(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }
    pub const fn example(mut self, example: &'static str) -> Self {
        self.example = Some(example);
        self
    }
    pub const fn input_only(mut self) -> Self {
        self.direction = Some(Direction::Input);
        self
    }
    pub const fn output_only(mut self) -> Self {
        self.direction = Some(Direction::Output);
        self
    }
    pub const fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub const fn exact_case(mut self) -> Self {
        self.exact_case = true;
        self
    }
}
