use clap::Parser;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        // Process entry points of our own, never typed by users.
        Some("__monitor") => hidden_monitor(&args[2..]),
        Some("__network") => hidden_network(&args[2..]),
        Some("__exec") => hidden_exec(&args[2..]),
        Some("__console") => hidden_console(&args[2..]),
        // Build step of the packages: man pages and shell completions from the definition.
        Some("__generate") => hidden_generate(&args[2..]),
        // The host service; its own flags.
        Some("daemon") => sysctr::daemon::command(sysctr::daemon::Args::parse_from(&args[1..])),
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

/// The whole command line as users see it: the CLI plus `sysctr daemon` (parsed apart, as
/// the service's own entry point).
fn full_command() -> clap::Command {
    use clap::CommandFactory;
    let daemon = sysctr::daemon::Args::command().name("daemon").bin_name("sysctr daemon");
    sysctr::cli::Cli::command().subcommand(daemon)
}

/// `sysctr __generate man|completions DIR`: write the man pages (`sysctr.1`, `sysctr-VERB.1`,
/// `sysctr-oci.1`)
/// or the bash, zsh and fish completions into DIR, from the clap definition.
fn hidden_generate(args: &[String]) -> i32 {
    let (Some(what), Some(dir)) = (args.first(), args.get(1)) else {
        eprintln!("usage: sysctr __generate man|completions DIR");
        return 2;
    };
    let dir = std::path::Path::new(dir);
    let r = std::fs::create_dir_all(dir).and_then(|()| match what.as_str() {
        "man" => {
            use clap::CommandFactory;
            clap_mangen::generate_to(full_command(), dir)?;
            // The runc-compatible runtime command (also `sysctr oci`).
            let oci = sysctr::runtime::command::Args::command().name("sysctr-oci").bin_name("sysctr-oci");
            clap_mangen::generate_to(oci, dir)
        }
        "completions" => {
            use clap_complete::Shell;
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                clap_complete::generate_to(shell, &mut full_command(), "sysctr", dir)?;
            }
            Ok(())
        }
        other => Err(std::io::Error::other(format!("{other:?}: generate man or completions"))),
    });
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {}: {e}", dir.display());
            1
        }
    }
}

/// `sysctr __network NAME`: a network's dnsmasq supervisor.
fn hidden_network(args: &[String]) -> i32 {
    hidden(Some("network"), args, |m, name| m.network_supervisor_main(name).map(|()| 0))
}

/// `sysctr __monitor NAME`: a container's supervisor.
fn hidden_monitor(args: &[String]) -> i32 {
    hidden(Some("monitor"), args, |m, name| m.monitor_main(name).map(|()| 0))
}

/// `sysctr __exec NAME` (request in $SYSCTR_EXEC_REQUEST): the daemon runs it on a client's
/// stdio; it joins the container and ends with the command's exit status.
fn hidden_exec(args: &[String]) -> i32 {
    sysctr::sys::default_sigpipe();
    let Some(req) = std::env::var("SYSCTR_EXEC_REQUEST").ok().and_then(|r| serde_json::from_str::<sysctr::api::ExecPost>(&r).ok()) else {
        eprintln!("Error: no exec request");
        return 2;
    };
    hidden(None, args, |m, name| m.exec(name, &req))
}

/// `sysctr __console NAME ESCAPE replay|live`: attach a client's terminal to the console;
/// exit 0 when detached, 3 when the console closed.
fn hidden_console(args: &[String]) -> i32 {
    sysctr::sys::default_sigpipe();
    let Some(escape) = args.get(1).and_then(|e| e.parse::<u8>().ok()) else { return 2 };
    let replay = args.get(2).map(String::as_str) == Some("replay");
    hidden(None, args, |m, name| {
        m.console(name, escape, replay).map(|ended| match ended {
            sysctr::manager::Ended::Detached => 0,
            sysctr::manager::Ended::Closed => sysctr::client::CONSOLE_CLOSED,
        })
    })
}

/// Run a helper entry point on `args[0]` (a name); its exit code. An error goes to stderr
/// as `WHAT NAME: ...` in a helper's own log, or as `Error: ...` when stderr is a client's
/// (`what` None).
fn hidden(what: Option<&str>, args: &[String], run: impl FnOnce(&sysctr::manager::Manager, &str) -> sysctr::manager::Result<i32>) -> i32 {
    let Some(name) = args.first() else { return 2 };
    match sysctr::manager::Manager::new(sysctr::storage::Paths::from_env()).and_then(|m| run(&m, name)) {
        Ok(code) => code,
        Err(e) => {
            match what {
                Some(w) => eprintln!("{w} {name}: {}", chain(&e)),
                None => eprintln!("Error: {}", chain(&e)),
            }
            1
        }
    }
}
