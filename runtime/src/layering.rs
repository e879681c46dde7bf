//! The check that keeps the module graph a DAG: a module may use only the modules of lower
//! layers (see the layer table in the crate docs). Run by `cargo test`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// The layers, lowest first: a module may import only modules of a lower layer.
const LAYERS: &[&[&str]] = &[
    &["lock", "recon"],
    &["store"],
    &["cluster"],
    &["warp", "vocabulary"],
    &["config"],
    &["event_handler"],
    &["lanes", "state"],
    &["stores"],
    &["introspection"],
    &["environment"],
    &["downlink"],
    &["agent_lifecycle"],
    &["agent_model"],
    &["remote"],
    &["server", "client"],
    &["testing"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules a token stream names through `crate::` (or `$crate::`) paths and
/// through `super::` paths that climb to the crate root. `path` is the module the tokens are
/// in, from the crate root.
fn uses(tokens: TokenStream, path: &[String], found: &mut BTreeSet<String>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut index = 0;
    while index < tokens.len() {
        match &tokens[index] {
            TokenTree::Ident(ident) if ident == "mod" => {
                if let (Some(TokenTree::Ident(name)), Some(TokenTree::Group(body))) =
                    (tokens.get(index + 1), tokens.get(index + 2))
                {
                    let mut inner = path.to_vec();
                    inner.push(name.to_string());
                    uses(body.stream(), &inner, found);
                    index += 3;
                    continue;
                }
            }
            TokenTree::Ident(ident) if ident == "crate" => {
                // `crate as alias` would hide what the alias reaches.
                if matches!(tokens.get(index + 1), Some(TokenTree::Ident(next)) if next == "as") {
                    found.insert("crate as ..".to_owned());
                }
                index = named_after(&tokens, index + 1, found);
                continue;
            }
            TokenTree::Ident(ident) if ident == "super" => {
                let mut up = 0;
                let mut next = index;
                while matches!(&tokens.get(next), Some(TokenTree::Ident(i)) if i == "super")
                    && is_path_separator(&tokens, next + 1)
                {
                    up += 1;
                    next += 3;
                }
                if up >= path.len() && up > 0 {
                    index = named_after(&tokens, next - 2, found);
                    continue;
                }
                index = next.max(index + 1);
                continue;
            }
            TokenTree::Group(group) => uses(group.stream(), path, found),
            _ => {}
        }
        index += 1;
    }
}

fn is_path_separator(tokens: &[TokenTree], at: usize) -> bool {
    matches!((tokens.get(at), tokens.get(at + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':')
}

/// Records the module named after the `::` at `at` (one name, or each of a `{..}` group), and
/// returns where scanning goes on.
fn named_after(tokens: &[TokenTree], at: usize, found: &mut BTreeSet<String>) -> usize {
    if !is_path_separator(tokens, at) {
        return at;
    }
    match tokens.get(at + 2) {
        Some(TokenTree::Ident(name)) => {
            found.insert(name.to_string());
        }
        // A glob of the crate root would let plain `module::item` paths through unseen.
        Some(TokenTree::Punct(punct)) if punct.as_char() == '*' => {
            found.insert("*".to_owned());
        }
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
            let mut first = true;
            for token in group.stream() {
                match token {
                    TokenTree::Ident(name) if first => {
                        found.insert(name.to_string());
                        first = false;
                    }
                    TokenTree::Punct(punct) if punct.as_char() == ',' => first = true,
                    _ => {}
                }
            }
        }
        _ => {}
    }
    at + 3
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the source folder is readable") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The module path of a source file (`downlink/driver.rs` is `downlink::driver`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut path: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(path.last().map(String::as_str), Some("mod" | "lib")) {
        path.pop();
    }
    path
}

#[test]
fn no_module_uses_a_higher_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut violations = Vec::new();
    let mut unplaced = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&root).expect("under src");
        let path = module_path(relative);
        let Some(top) = path.first() else { continue };
        let Some(own) = layer(top) else {
            if top != "layering" {
                unplaced.insert(top.clone());
            }
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let tokens: TokenStream = text.parse().expect("the source file tokenizes");
        let mut found = BTreeSet::new();
        uses(tokens, &path, &mut found);
        for used in found {
            if used == "*" || used == "crate as .." {
                violations.push(format!(
                    "{} uses `{used}` of the crate root: name the modules",
                    relative.display()
                ));
                continue;
            }
            if let Some(theirs) = layer(&used) {
                if used != *top && theirs >= own {
                    violations.push(format!(
                        "{} (layer {own}, `{top}`) uses `{used}` (layer {theirs})",
                        relative.display()
                    ));
                }
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules missing from the layer table: {unplaced:?}"
    );
    assert!(
        violations.is_empty(),
        "lower layers use higher ones:\n{}",
        violations.join("\n")
    );
}

/// Where the description of each layer starts in the diagram.
const DESCRIPTION_COLUMN: usize = 32;

/// The layers as the crate docs draw them (`lib.rs`, section "Layers"), lowest first: the first
/// names of each line of the diagram, before its description.
fn drawn_layers() -> Vec<Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let text = std::fs::read_to_string(root).expect("lib.rs is readable");
    let diagram = text
        .split("//! # Layers")
        .nth(1)
        .and_then(|rest| rest.split("//! ```text\n").nth(1))
        .and_then(|rest| rest.split("//! ```\n").next())
        .expect("lib.rs draws the layers in a text block under `# Layers`");
    let mut layers: Vec<Vec<String>> = diagram
        .lines()
        .filter_map(|line| line.strip_prefix("//!  "))
        .filter(|line| !line.starts_with(' '))
        .map(|line| {
            // The names fill the first columns; the description starts at the same column
            // on every line.
            let names: String = line.chars().take(DESCRIPTION_COLUMN).collect();
            names.split_whitespace().map(str::to_owned).collect()
        })
        .collect();
    layers.reverse();
    layers
}

#[test]
fn the_crate_docs_draw_the_layers_this_check_enforces() {
    let enforced: Vec<Vec<String>> = LAYERS
        .iter()
        .map(|layer| {
            let mut names: Vec<String> = layer.iter().map(|name| (*name).to_owned()).collect();
            names.sort();
            names
        })
        .collect();
    let drawn: Vec<Vec<String>> = drawn_layers()
        .into_iter()
        .map(|mut names| {
            names.sort();
            names
        })
        .collect();
    assert_eq!(
        drawn, enforced,
        "update the diagram in lib.rs or LAYERS here"
    );
}
