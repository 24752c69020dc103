//! `docker/` checked by real linters, as no Docker engine runs here: the Compose file against
//! the Compose specification and best practices (`dclint`), the Dockerfile with
//! `dockerfilelint`. Both are npm packages pinned in `tests/interop/package.json`, which
//! `.ci/run` installs with `npm ci`.
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lint(tool: &str, file: &Path) -> (bool, String) {
    let bin = root().join("tests/interop/node_modules/.bin").join(tool);
    assert!(
        bin.exists(),
        "{tool} is not installed: run `npm ci --prefix tests/interop` (.ci/run does)"
    );
    let out = Command::new(&bin)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_compose_file_passes_dclint_with_no_problem() {
    let file = root().join("docker/docker-compose.yml");
    let (ok, out) = lint("dclint", &file);
    assert!(ok && !out.contains("problems"), "dclint: {out}");
    // What the issue asks of it, beyond the linter: every service, health-ordered start-up.
    let text = std::fs::read_to_string(&file).expect("compose file");
    for service in [
        "app:",
        "postgres:",
        "redis:",
        "prometheus:",
        "grafana:",
        "mailpit:",
    ] {
        assert!(text.contains(&format!("\n  {service}\n")), "no {service}");
    }
    assert_eq!(
        text.matches("    healthcheck:").count(),
        6,
        "a health check each"
    );
    assert!(!text.contains("condition: service_started"));
}

#[test]
fn the_dockerfile_passes_dockerfilelint() {
    let file = root().join("docker/Dockerfile");
    let (ok, out) = lint("dockerfilelint", &file);
    assert!(
        ok && out.contains("Issues: None found"),
        "dockerfilelint: {out}"
    );
    let text = std::fs::read_to_string(&file).expect("Dockerfile");
    assert!(text.contains("USER billing") && text.contains("HEALTHCHECK"));
}
