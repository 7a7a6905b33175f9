//! The `portcullis` command: `portcullis --config FILE` (or `portcullis run --config FILE`) runs
//! the gateway; `portcullis check --config FILE` validates a configuration against its issuer.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use portcullis::config::{self, Settings};
use portcullis::oidc::Issuer;

/// Exit status for a configuration that does not load (BSD sysexits EX_USAGE).
const EXIT_CONFIG: u8 = 64;
/// Exit status when the issuer cannot be used (EX_UNAVAILABLE).
const EXIT_ISSUER: u8 = 69;

#[derive(Parser)]
#[command(
    version,
    about = "Identity-aware reverse proxy for OpenID Connect and Amazon Cognito"
)]
struct Cli {
    /// Configuration file (TOML); `PORTCULLIS_*` environment variables override its keys.
    #[arg(long, short, env = "PORTCULLIS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run,
    /// Validate the configuration, fetch the issuer's discovery document and JWKS, and exit.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Some(path) = cli.config else {
        eprintln!("error: --config FILE is required");
        return ExitCode::from(EXIT_CONFIG);
    };
    let settings = match config::load(&path) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => runtime.block_on(run(settings)),
        Command::Check => runtime.block_on(check(settings)),
    }
}

async fn run(settings: Settings) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(settings.server.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", settings.server.listen);
            return ExitCode::FAILURE;
        }
    };
    for warning in settings.policy.lint() {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        listen = %settings.server.listen,
        public_url = %settings.server.public_origin,
        issuer = %settings.oidc.issuer,
        "portcullis starting"
    );
    match portcullis::serve(listener, settings, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn check(settings: Settings) -> ExitCode {
    for warning in settings.policy.lint() {
        println!("warning: {warning}");
    }
    let issuer = match Issuer::new(settings.oidc.clone()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match issuer.discover().await {
        Ok(provider) => {
            println!("config: ok");
            println!(
                "issuer: {} ({} signing keys)",
                settings.oidc.issuer,
                provider.keys.len()
            );
            println!(
                "redirect URI to register: {}",
                settings.server.redirect_uri()
            );
            println!(
                "sign-out URL to register: {}{}",
                settings.server.public_origin,
                portcullis::server::SIGNED_OUT_PATH
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("issuer: {e}");
            ExitCode::from(EXIT_ISSUER)
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
