//! The `portcullis` binary.

// mimalloc, tuned in `portcullis_alloc` (why there).
#[global_allocator]
static GLOBAL: portcullis_alloc::MiMalloc = portcullis_alloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Before the runtime starts any thread (`serve` logs the purge delay in force).
    portcullis_alloc::give_memory_back_promptly();
    portcullis_server::cli::main()
}
