//! `rig`: parse configuration, start the gateway, stop on SIGTERM / Ctrl-C.

use std::process::ExitCode;

use rig::{config, support::env::Env, App, Config};

#[tokio::main]
async fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("-h" | "--help") => {
            print!("{}", config::help_text());
            return ExitCode::SUCCESS;
        }
        Some("--config-markdown") => {
            print!("{}", config::markdown_reference());
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("rig: unknown argument {other:?}; see rig --help");
            return ExitCode::from(64);
        }
        None => {}
    }
    let config = match Config::from_strings(&Env) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("rig: invalid configuration: {e}");
            }
            return ExitCode::from(64);
        }
    };
    init_logging(&config);
    let app = match App::start(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("rig: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("rig: listening on {} (public) and {} (internal)", app.inbound_addr, app.api_addr);
    let grace = app.state.config.shutdown_grace;
    shutdown_signal().await;
    let left = app.shutdown(grace).await;
    eprintln!("rig: stopped ({left} connections still open after the grace period)");
    ExitCode::SUCCESS
}

fn init_logging(config: &Config) {
    let builder = tracing_subscriber::fmt().with_max_level(config.log_level).with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
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
