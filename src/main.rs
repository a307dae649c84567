//! The kmodtree binary. Everything the tool does (flags, messages, exit
//! statuses, output) is in [`cli`], on top of the `kmodtree` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
