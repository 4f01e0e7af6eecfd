//! The `portcullis` binary.

// mimalloc: the token path allocates many small short-lived buffers; glibc malloc showed up at
// ~7% of CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    portcullis_server::cli::main()
}
