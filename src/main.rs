use clap::Parser;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        // Process entry points of our own, never typed by users.
        Some("__monitor") => hidden_monitor(&args[2..]),
        Some("__network") => hidden_network(&args[2..]),
        // The built-in runtime, runc-compatible: `sysctr oci --root R create ...`.
        Some("oci") => sysctr::runtime::command::main(sysctr::runtime::command::Args::parse_from(&args[1..])),
        _ => {
            sysctr::sys::default_sigpipe();
            match sysctr::cli::run(sysctr::cli::Cli::parse()) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("Error: {}", chain(e.as_ref()));
                    1
                }
            }
        }
    };
    std::process::exit(code);
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    sysctr::runtime::chain(e)
}

/// `sysctr __network NAME`: a network's dnsmasq supervisor.
fn hidden_network(args: &[String]) -> i32 {
    hidden("network", args, |m, name| m.network_supervisor_main(name))
}

/// `sysctr __monitor NAME`: a container's supervisor.
fn hidden_monitor(args: &[String]) -> i32 {
    hidden("monitor", args, |m, name| m.monitor_main(name))
}

/// Run a helper entry point on `args[0]` (a name); its exit code.
fn hidden(what: &str, args: &[String], run: impl FnOnce(&sysctr::manager::Manager, &str) -> sysctr::manager::Result<()>) -> i32 {
    let Some(name) = args.first() else { return 2 };
    let result = sysctr::manager::Manager::new(sysctr::storage::Paths::from_env()).and_then(|m| run(&m, name));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{what} {name}: {}", chain(&e));
            1
        }
    }
}
