//! Load generator for the gateway and its peers (Pushpin, Nchan, Sockudo) and the bare-writer baseline.
//!
//! ```text
//! rig-loadgen run --sub-url URL... --pub-url URL... [--format rig|nchan|pushpin] [--transport sse|ws]
//!                 --conns N [--procs P] [--rate EV_PER_S --duration S] [--pid SERVER_PID...]
//!                 [--jwt-secret S] [--sources 8] [--require-complete]
//! rig-loadgen sub ...        (spawned by `run`: holds connections, reports READY/DONE)
//! rig-loadgen startup --bin PATH [--runs 5]
//! rig-loadgen grip --port P [--channel bench]
//! ```

mod bare;
mod cli;
mod grip;
mod hist;
mod jwt;
mod pacing;
mod procfs;
mod publish;
mod pusher;
mod run;
mod scan;
mod sse;
mod startup;
mod sub;
mod tally;
mod url;
mod ws;

const USAGE: &str = "\
rig-loadgen run --sub-url URL... --pub-url URL... [--format rig|nchan|pushpin|pusher] [--transport sse|ws|pusher]
                --conns N [--procs P] [--rate EV_PER_S --duration S] [--pid SERVER_PID...]
                [--jwt-secret S] [--sources 8] [--connect-concurrency 256] [--settle-ms 1000]
                [--connect-stall-ms 30000] [--connect-timeout-ms 1800000] [--targeted]
                [--label L] [--target NAME] [--require-complete] [--match-every K] [--channel bench]
                [--read-buf 4096]   (SSE read buffer per connection after the head)
                [--pusher-key KEY --pusher-secret SECRET]   (format pusher: Sockudo's signed HTTP API)
    prints one JSON line: connections, server RSS per connection, deliveries, latency percentiles
    connecting goes on while connections keep settling (gives up after --connect-stall-ms without one)
    --targeted: event i goes to connection i % N only (data.to = \"c<i % N>\"; __CONN__ in a URL
                becomes the connection's number, so its subscription can name it)
    --match-every K: connection g is in group g<g % K> (__GROUP__ in a URL; the Pusher tag filter),
                every event carries data.to = \"g0\" (Pusher: tag to=g0), so 1 in K connections matches
rig-loadgen sub ...                 (spawned by run: holds connections, reports READY/DONE)
rig-loadgen startup --bin PATH [--runs 5]
rig-loadgen grip --port P [--channel bench]   (GRIP backend for Pushpin)
rig-loadgen encode --value TEXT     (percent-encodes a query value)
rig-loadgen bare [--port 0] [--threads 1|2] [--mode write|writev]
    the bare-writer baseline: takes the SSE subscribers and publishes of `run` like the gateway,
    writes each published frame to every socket and nothing else";

fn main() {
    let mut argv = std::env::args().skip(1);
    let cmd = argv.next().unwrap_or_default();
    if matches!(cmd.as_str(), "" | "help" | "--help" | "-h") || std::env::args().any(|a| a == "--help") {
        println!("{USAGE}");
        return;
    }
    // Each process may hold at most the hard open-file limit; take all of it.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let result = cli::Args::parse(argv).and_then(|a| {
        if cmd == "bare" {
            // Plain threads: the baseline must not pay for an async runtime.
            return bare::main(a);
        }
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async move {
            match cmd.as_str() {
                "run" => run::main(a).await,
                "sub" => sub::main(a).await,
                "startup" => startup::main(a).await,
                "grip" => grip::main(a).await,
                "encode" => {
                    println!("{}", url::encode(&a.req("value")?));
                    Ok(())
                }
                _ => Err(format!("unknown command {cmd:?}\n{USAGE}")),
            }
        })
    });
    if let Err(e) = result {
        eprintln!("rig-loadgen: {e}");
        std::process::exit(1);
    }
}
