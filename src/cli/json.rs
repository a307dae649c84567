//! The JSON documents commands print for scripts (`--json`), each with
//! `"version": 1`. docs/json.md describes every shape; byte strings that
//! may not be UTF-8 (module names, paths, options) use the manifest's
//! `%XX` encoding ([`kmodtree::kmod::esc`]).

use kmodtree::audit::{DiffReport, VerifyReport};
use kmodtree::closure::{ClosureReport, ProbeAction, TargetActions};
use kmodtree::kmod::esc::encode;
use serde_json::{json, Value};
use std::path::Path;

/// The schema version of every document.
const VERSION: u32 = 1;

/// `value` as pretty JSON (`{:#}`) with a final newline.
fn text(value: Value) -> String {
    format!("{value:#}\n")
}

/// `kmodtree verify --json`.
pub fn verify(r: &VerifyReport) -> String {
    text(json!({
        "version": VERSION,
        "ok": r.ok(),
        "kernel_vermagic": r.kernel_vermagic,
        "stale": r.stale.iter().map(|d| json!({
            "name": d.name,
            "problem": d.problem,
            "details": d.details,
        })).collect::<Vec<_>>(),
        "unindexed": r.unindexed,
        "vanished": r.vanished,
        "incompatible": r.incompatible.iter().map(|m| json!({
            "path": m.path,
            "problems": m.problems,
        })).collect::<Vec<_>>(),
        "notes": r.notes,
    }))
}

/// `kmodtree diff --json`: every difference (layout-only and link-only
/// ones too), most important first.
pub fn diff(r: &DiffReport) -> String {
    let mut entries: Vec<_> = r.entries.iter().collect();
    entries.sort_by_key(|e| e.kind);
    let mut counts = std::collections::BTreeMap::<_, u64>::new();
    for e in &entries {
        *counts.entry(e.kind).or_default() += 1;
    }
    text(json!({
        "version": VERSION,
        "identical": r.identical(),
        "counts": counts,
        "differences": entries.iter().map(|e| json!({
            "kind": e.kind,
            "path": e.path,
            "summary": e.line,
            "details": e.details,
        })).collect::<Vec<_>>(),
    }))
}

/// `kmodtree closure --json`: what was copied into `out`.
pub fn closure(out: &Path, r: &ClosureReport) -> String {
    text(json!({
        "version": VERSION,
        "out": encode(out.as_os_str().as_encoded_bytes()),
        "modules": r.modules.iter().map(|m| json!({
            "name": encode(&m.name),
            "path": encode(&m.relpath),
        })).collect::<Vec<_>>(),
        "builtin": r.builtin.iter().map(|b| encode(b)).collect::<Vec<_>>(),
        "missing_roots": r.missing_roots.iter().map(|b| encode(b)).collect::<Vec<_>>(),
        "firmware": r.firmware.iter().filter(|f| !f.copied.is_empty()).map(|f| json!({
            "module": encode(&f.module),
            "name": encode(&f.name),
            "copied": f.copied.iter().map(|c| encode(c)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "firmware_missing": r.firmware.iter().filter(|f| f.copied.is_empty()).map(|f| json!({
            "module": encode(&f.module),
            "name": encode(&f.name),
        })).collect::<Vec<_>>(),
    }))
}

/// `kmodtree show-depends --json`: each target's lines as values.
pub fn show_depends(targets: &[TargetActions], status: u8) -> String {
    let action = |a: &ProbeAction| match a {
        ProbeAction::Insmod {
            name,
            path,
            options,
        } => json!({
            "action": "insmod",
            "module": encode(name),
            "path": encode(path),
            "options": encode(options),
        }),
        ProbeAction::Builtin { name } => json!({
            "action": "builtin",
            "module": encode(name),
        }),
        ProbeAction::Install {
            name,
            command,
            options,
            path,
        } => json!({
            "action": "install",
            "module": encode(name),
            "command": encode(command),
            "options": encode(options),
            "path": path.as_deref().map(encode),
        }),
    };
    text(json!({
        "version": VERSION,
        "exit_status": status,
        "targets": targets.iter().map(|t| json!({
            "target": encode(&t.target),
            "found": t.found,
            "actions": t.actions.iter().map(action).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}
