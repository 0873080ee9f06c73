//! `rig`: parse configuration, start the gateway, stop on SIGTERM / Ctrl-C.

use std::process::ExitCode;

use rig::{
    config,
    support::{build, env::legacy_warnings, env::Env},
    telemetry::logs,
    App, Config,
};

/// `EX_USAGE`: bad arguments or configuration.
const EX_USAGE: u8 = 64;

#[tokio::main]
async fn main() -> ExitCode {
    let check_only = match std::env::args().nth(1).as_deref() {
        Some("-h" | "--help") => {
            print!("{}", config::help_text());
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version") => {
            println!("{}", build::version_line());
            return ExitCode::SUCCESS;
        }
        Some("--config-markdown") => {
            print!("{}", config::markdown_reference());
            return ExitCode::SUCCESS;
        }
        Some("--check-config") => true,
        Some(other) => {
            eprintln!("rig: unknown argument {other:?}; see rig --help");
            return ExitCode::from(EX_USAGE);
        }
        None => false,
    };
    let config = match Config::from_strings(&Env) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("rig: invalid configuration: {e}");
            }
            return ExitCode::from(EX_USAGE);
        }
    };
    let warnings = legacy_warnings(&Env);
    if check_only {
        for w in &warnings {
            eprintln!("rig: warning: {w}");
        }
        println!("rig: configuration is valid ({} warnings)", warnings.len());
        return ExitCode::SUCCESS;
    }
    logs::init(config.log_level, config.log_format);
    let format = config.log_format;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let app = match App::start(config).await {
        Ok(app) => app,
        Err(error) => {
            logs::announce(format, &format!("rig: cannot start: {error}"));
            return ExitCode::FAILURE;
        }
    };
    logs::announce(
        format,
        &format!("rig: listening on {} (public) and {} (internal); {}", app.inbound_addr, app.api_addr, build::version_line()),
    );
    let grace = app.state.config.shutdown_grace;
    shutdown_signal().await;
    let left = app.shutdown(grace).await;
    logs::announce(
        format,
        &format!("rig: stopped ({} connections and {} requests still open after the grace period)", left.connections, left.requests),
    );
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
