//! Build-time assets:
//! - the widget's ES3 sources concatenated (in `widget-js/bundle.txt` order) into the one
//!   script the server embeds and serves at `/widget.js`;
//! - the table of the agent console's files: every file under `console/` but its package
//!   (tests, installed packages, package files, lint config), with its content type, so
//!   that a new console file needs no Rust change.
//!
//! No Node.js is needed to build.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    // The migrations are embedded (`embed_migrations!`): a new one must rebuild the crate.
    println!("cargo:rerun-if-changed=diesel-migrations");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    widget_bundle(&out_dir.join("widget.js"));
    console_table(&out_dir.join("console_files.rs"));
}

fn widget_bundle(out: &Path) {
    let root = Path::new("widget-js");
    let list = root.join("bundle.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    println!("cargo:rerun-if-changed=widget-js/src");
    println!("cargo:rerun-if-changed=widget-js/demo.html");
    let mut parts: Vec<String> = Vec::new();
    if let Ok(text) = fs::read_to_string(&list) {
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let path = root.join(line);
            println!("cargo:rerun-if-changed={}", path.display());
            let src = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("widget-js/bundle.txt names {}: {e}", path.display()));
            parts.push(src);
        }
    }
    fs::write(out, parts.join("\n")).expect("write widget bundle");
}

/// What under `console/` is the console's package, not the console: never served.
const CONSOLE_SKIP: &[&str] = &[
    "node_modules",
    "test",
    "package.json",
    "package-lock.json",
    "eslint.config.js",
    "README.md",
];

/// The content type a console file is served with, by its extension.
fn content_type(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "application/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        _ => return None,
    })
}

/// Every served file under `dir` as (path relative to `console/` with `/` separators,
/// file on disk); dot files are skipped, and so is `CONSOLE_SKIP` at the top.
fn console_files(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        let name = entry.file_name();
        let name = name
            .to_str()
            .unwrap_or_else(|| panic!("{}: a file name that is not UTF-8", dir.display()));
        if name.starts_with('.') || (rel.is_empty() && CONSOLE_SKIP.contains(&name)) {
            continue;
        }
        let path = entry.path();
        let key = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let meta = fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if meta.is_dir() {
            console_files(&path, &key, out);
        } else if meta.is_file() {
            out.push((key, path));
        }
    }
}

fn console_table(out: &Path) {
    let root = Path::new("console");
    // The whole directory: a file added, changed or removed anywhere in it.
    println!("cargo:rerun-if-changed=console");
    let mut files = Vec::new();
    if root.is_dir() {
        console_files(root, "", &mut files);
    }
    // Sorted by path: the server looks paths up by binary search.
    files.sort();
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let mut code = String::from(
        "/// (path under `/console/`, content type, bytes) of every console file, by path.\n\
         static CONSOLE_FILES: &[(&str, &str, &[u8])] = &[\n",
    );
    for (key, path) in &files {
        let ct = content_type(path).unwrap_or_else(|| {
            panic!(
                "console/{key}: no content type is known for it (build.rs: content_type), \
                 or list it in CONSOLE_SKIP if it is not to be served"
            )
        });
        let abs = manifest.join(path);
        let abs = abs
            .to_str()
            .unwrap_or_else(|| panic!("{}: a path that is not UTF-8", abs.display()));
        code.push_str(&format!(
            "    ({key:?}, {ct:?}, include_bytes!({abs:?})),\n"
        ));
    }
    code.push_str("];\n");
    fs::write(out, code).expect("write the console's file table");
}
