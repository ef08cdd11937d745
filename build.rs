//! Concatenates the widget's ES3 sources (in `widget-js/bundle.txt` order) into the one
//! script the server embeds and serves at `/widget.js`. No Node.js is needed to build.

use std::fs;
use std::path::Path;

fn main() {
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("widget.js");
    let root = Path::new("widget-js");
    let list = root.join("bundle.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    println!("cargo:rerun-if-changed=widget-js/src");
    println!("cargo:rerun-if-changed=widget-js/demo.html");
    println!("cargo:rerun-if-changed=console");
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
    fs::write(&out, parts.join("\n")).expect("write widget bundle");
}
