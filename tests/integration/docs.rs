//! Every ```toml snippet in README.md and docs/*.md is a configuration the gateway loads.
//!
//! The documentation shows configuration in pieces: one section, a few rules, a route. Each
//! snippet is completed from a small base configuration (only what it lacks: a required
//! section, or a required key of a section it has), its secret files are replaced by inline
//! secrets, and the result goes through `portcullis::config::from_toml_str`, the same
//! validation `run` and `check` apply. A snippet that is meant not to load (a wrong
//! configuration, shown as such) is fenced as ```text, not ```toml.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// Inline stand-ins for the secrets that snippets read from files. The session secret is one the
/// gateway accepts (32 bytes, varied); no snippet prints a session secret of its own, since one
/// printed in the docs would be known to everyone.
const SESSION_SECRET: &str = "9f86d081884c7d659a2feaa0c55ad015";
const CLIENT_SECRET: &str = "an-app-client-secret";
const REDIS_URL: &str = "redis://127.0.0.1:6379";

#[test]
fn toml_snippets_in_the_docs_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    let mut failures = Vec::new();
    for path in documents(root) {
        let markdown = std::fs::read_to_string(&path).unwrap();
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        for (line, snippet) in toml_blocks(&markdown) {
            seen += 1;
            if let Err(problem) = load(&snippet) {
                failures.push(format!(
                    "{name}:{line}: the toml snippet does not load:\n{problem}"
                ));
            }
        }
    }
    // Every failure at once: a change to the configuration usually breaks several snippets.
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // A broken fence parser would find nothing and pass; the docs hold far more than this.
    assert!(
        seen >= 20,
        "expected at least 20 toml snippets in README.md and docs/*.md, found {seen}"
    );
}

/// README.md, then docs/*.md in name order.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some("md"))
        .collect();
    docs.sort();
    let mut files = vec![root.join("README.md")];
    files.extend(docs);
    files
}

/// An open fenced block: where it starts, how it is indented and fenced, and what it holds.
struct Fence {
    line: usize,
    indent: usize,
    ticks: usize,
    is_toml: bool,
    lines: Vec<String>,
}

/// The fenced blocks of `markdown` whose info string is `toml`, each with the (1-based) line of
/// its opening fence. Fences may be indented, as inside a numbered step of a walkthrough: the
/// block's lines lose that indentation, as Markdown renders them.
fn toml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<Fence> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let ticks = trimmed.bytes().take_while(|&b| b == b'`').count();
        // A closing fence is at least as long as the opening one and carries no info string.
        let closes = open
            .as_ref()
            .is_some_and(|fence| ticks >= fence.ticks && trimmed[ticks..].trim().is_empty());
        if closes {
            if let Some(Fence {
                line,
                is_toml: true,
                lines,
                ..
            }) = open.take()
            {
                blocks.push((line, lines.join("\n")));
            }
        } else if let Some(fence) = open.as_mut() {
            fence.lines.push(dedent(line, fence.indent).to_owned());
        } else if ticks >= 3 {
            let info = trimmed[ticks..].trim();
            open = Some(Fence {
                line: index + 1,
                indent: line.len() - trimmed.len(),
                ticks,
                is_toml: info.split_whitespace().next() == Some("toml"),
                lines: Vec::new(),
            });
        }
    }
    blocks
}

/// `line` without up to `indent` leading spaces.
fn dedent(line: &str, indent: usize) -> &str {
    let spaces = line.bytes().take(indent).take_while(|&b| b == b' ').count();
    &line[spaces..]
}

/// Parses, completes and loads one snippet; the error names what went wrong.
fn load(snippet: &str) -> Result<(), String> {
    let table: Table = toml::from_str(snippet).map_err(|e| format!("not valid TOML: {e}"))?;
    let text = toml::to_string(&complete(table)?)
        .map_err(|e| format!("cannot be written back as TOML: {e}"))?;
    portcullis::config::from_toml_str(&text)
        .map(|_| ())
        .map_err(|errors| format!("{errors}\n--- as loaded:\n{text}"))
}

/// `config` with what a loadable configuration needs and the snippet left out, taken from the
/// base configuration; nothing the snippet says is changed, except that secrets read from files
/// (which exist only where the gateway is deployed) are given inline.
fn complete(mut config: Table) -> Result<Table, String> {
    // `[upstream]` and `[[routes]]` together are an error: a snippet with routes gets no upstream.
    let has_routes = config.contains_key("routes");

    let server = section(&mut config, "server")?;
    fill(server, "public_url", "https://app.example.com");

    if !has_routes {
        let upstream = section(&mut config, "upstream")?;
        fill(upstream, "url", "http://127.0.0.1:8080");
    }

    let oidc = section(&mut config, "oidc")?;
    // `issuer` and `user_pool_id` name the issuer two ways; setting both is an error.
    if !oidc.contains_key("issuer") {
        fill(oidc, "user_pool_id", "eu-west-1_AbC123");
    }
    fill(oidc, "client_id", "abc");
    inline(oidc, "client_secret_file", "client_secret", CLIENT_SECRET);

    let session = section(&mut config, "session")?;
    inline(session, "secret_file", "secret", SESSION_SECRET);
    fill(session, "secret", SESSION_SECRET);
    inline(session, "redis_url_file", "redis_url", REDIS_URL);
    // The Redis store needs its URL; a snippet about something else may leave it out.
    if session.get("store").and_then(Value::as_str) == Some("redis") {
        fill(session, "redis_url", REDIS_URL);
    }

    Ok(config)
}

/// The table `name` of `config`, created empty when the snippet has no such section.
fn section<'a>(config: &'a mut Table, name: &str) -> Result<&'a mut Table, String> {
    if !config.contains_key(name) {
        config.insert(name.to_owned(), Value::Table(Table::new()));
    }
    match config.get_mut(name) {
        Some(Value::Table(table)) => Ok(table),
        _ => Err(format!("`{name}` is not a table")),
    }
}

/// Sets `key` to `value` unless the snippet set it.
fn fill(table: &mut Table, key: &str, value: &str) {
    if !table.contains_key(key) {
        table.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

/// Replaces `file_key` (a secret read from a file) by `key` with `value` inline.
fn inline(table: &mut Table, file_key: &str, key: &str, value: &str) {
    if table.remove(file_key).is_some() {
        table.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}
