//! How a record is printed: one line of text, or one JSON object.
//!
//! Keys and values are shown as text when they are printable UTF-8 (no
//! control character but tab, newline and carriage return), as hex
//! otherwise (or always, with `--hex`). Text is quoted and escaped, so
//! every record stays on one line.

use crate::json;
use std::fmt::Write;
use wal::Record;

/// PUT, DELETE and CHECKPOINT: the ops the C API names.
pub fn op_name(op: u8) -> Option<&'static str> {
    match op {
        1 => Some("PUT"),
        2 => Some("DELETE"),
        wal::OP_CHECKPOINT => Some("CHECKPOINT"),
        _ => None,
    }
}

/// The bytes as text, if they are printable UTF-8.
fn printable(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let ok = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
    text.chars().all(ok).then_some(text)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `key="text"` (Rust escapes) or `key=0x6b00`; always hex with `hex`.
fn text_field(name: &str, bytes: &[u8], hex_always: bool) -> String {
    match printable(bytes).filter(|_| !hex_always) {
        Some(text) => format!("{name}=\"{}\"", text.escape_debug()),
        None => format!("{name}=0x{}", hex(bytes)),
    }
}

/// `seq=5 op=PUT key="k" value="v"`; an op without a name is its number.
pub fn text_line(r: &Record<'_>, hex: bool) -> String {
    let op = op_name(r.op).map_or_else(|| r.op.to_string(), str::to_string);
    format!("seq={} op={op} {} {}", r.seq, text_field("key", r.key, hex), text_field("value", r.value, hex))
}

/// `"key":"text"` or `"key_hex":"6b00"`.
fn json_field(name: &str, bytes: &[u8], hex_always: bool) -> String {
    match printable(bytes).filter(|_| !hex_always) {
        Some(text) => format!("\"{name}\":{}", json::string(text)),
        None => format!("\"{name}_hex\":\"{}\"", hex(bytes)),
    }
}

/// `{"seq":5,"op":1,"op_name":"PUT","key":"k","value":"v"}`.
pub fn json_line(r: &Record<'_>, hex: bool) -> String {
    let name = op_name(r.op).map_or_else(String::new, |n| format!(",\"op_name\":\"{n}\""));
    format!(
        "{{\"seq\":{},\"op\":{}{name},{},{}}}",
        r.seq,
        r.op,
        json_field("key", r.key, hex),
        json_field("value", r.value, hex)
    )
}
