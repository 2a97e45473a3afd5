//! Just enough JSON writing for walctl's output: objects of strings,
//! numbers, booleans, null and nested values, each on one line.

use std::fmt::Write;

/// A JSON object being built, field by field, in the order given.
pub struct Object {
    text: String,
}

impl Object {
    pub fn new() -> Object {
        Object { text: String::from("{") }
    }

    /// A field whose value is already JSON text.
    pub fn raw(mut self, name: &str, json: &str) -> Object {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        self.text.push_str(&string(name));
        self.text.push(':');
        self.text.push_str(json);
        self
    }

    pub fn str(self, name: &str, value: &str) -> Object {
        self.raw(name, &string(value))
    }

    pub fn num(self, name: &str, value: u64) -> Object {
        self.raw(name, &value.to_string())
    }

    pub fn bool(self, name: &str, value: bool) -> Object {
        self.raw(name, if value { "true" } else { "false" })
    }

    /// A number, or null.
    pub fn opt_num(self, name: &str, value: Option<u64>) -> Object {
        match value {
            Some(n) => self.num(name, n),
            None => self.raw(name, "null"),
        }
    }

    /// A string, or null.
    pub fn opt_str(self, name: &str, value: Option<&str>) -> Object {
        match value {
            Some(s) => self.str(name, s),
            None => self.raw(name, "null"),
        }
    }

    pub fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

/// `[a,b,c]` from values that are already JSON text.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// A JSON string literal.
pub fn string(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
