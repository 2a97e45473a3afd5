//! The open report (`Wal::open_report`, wal_open_report in C) of the
//! read-only opens walctl makes, in words and in JSON. A read-only open
//! changes nothing: its report says what a writable open in the same
//! recovery mode would find and cut.

use crate::inspection::Inspection;
use crate::json;
use std::path::Path;
use wal::OpenReport;

/// What a read-only SALVAGE open found, for a log with damage.
pub struct SalvageView {
    pub first_seq: u64,
    pub last_seq: u64,
    pub report: OpenReport,
}

/// The open reports, as "clean close:", "writable open:" and, for a
/// damaged log, "salvage open:" lines.
pub fn lines(found: &Inspection) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    let report = found.tail_report.as_ref().or(found.salvage.as_ref().map(|s| &s.report));
    if let Some(report) = report {
        lines.push(("clean close:", clean_close(report).to_string()));
    }
    let newest = found.survey.as_ref().and_then(|s| s.segments.last()).map(|s| s.path.as_path());
    match &found.tail_report {
        Some(report) => lines.push(("writable open:", writable_open(report, newest))),
        None => lines.push(("writable open:", "refuses the log: it is damaged (walctl salvage cuts it)".to_string())),
    }
    if let Some(salvage) = &found.salvage {
        lines.push(("salvage open:", salvage_open(salvage)));
    }
    lines
}

pub fn clean_close(report: &OpenReport) -> &'static str {
    match report.clean_close {
        true => "yes",
        false => "no (the last writer did not close the log, or it was changed since)",
    }
}

/// "changes nothing", or the cut a writable TAIL open makes in `newest`.
pub fn writable_open(report: &OpenReport, newest: Option<&Path>) -> String {
    if !report.tail_cut {
        return "cuts nothing".to_string();
    }
    let file = newest.map_or("the newest segment".to_string(), |p| p.display().to_string());
    format!("cuts the {} bytes from offset {} of {file} (a torn tail)", report.bytes_cut, report.cut_offset)
}

/// What a writable SALVAGE open keeps, drops and cuts.
pub fn salvage_open(view: &SalvageView) -> String {
    let report = &view.report;
    let kept = crate::seq_range(view.first_seq, view.last_seq);
    let mut text = match report.salvage_dropped_from {
        0 => format!("keeps seq range {kept}, drops no record"),
        from => format!("keeps seq range {kept}, drops every record from seq {from}"),
    };
    if report.tail_cut {
        text += &format!(
            "; cuts the {} bytes from offset {} of the newest segment it keeps",
            report.bytes_cut, report.cut_offset
        );
    }
    text
}

/// The report's fields under the names wal_open_report_t gives them.
pub fn to_json(report: &OpenReport) -> String {
    json::Object::new()
        .bool("clean_close", report.clean_close)
        .bool("tail_cut", report.tail_cut)
        .num("cut_offset", report.cut_offset)
        .num("bytes_cut", report.bytes_cut)
        .num("salvage_dropped_from", report.salvage_dropped_from)
        .finish()
}

/// `{"first_seq":..,"last_seq":..,"open_report":{..}}`.
pub fn salvage_json(view: &SalvageView) -> String {
    json::Object::new()
        .num("first_seq", view.first_seq)
        .num("last_seq", view.last_seq)
        .raw("open_report", &to_json(&view.report))
        .finish()
}
