//! SIGINT, SIGTERM and SIGHUP: remove what this run created, then end by
//! the same signal (a shell sees status 128 + N; a parent sees the signal,
//! as it expects of an interrupted child). A second signal ends at once.
//!
//! The handler only writes the signal's number to a socket; a thread reading
//! it does the work: it locks the registry of live temporaries (so no new
//! one is created and no rename completes), parks every other thread of
//! the process in a handler of a real-time signal (so none re-creates a
//! directory of a tree being removed), removes every live temporary
//! (files and temporary output trees) and ends the process.

use kmodtree::output::scratch::remove_all_and_hold;
use std::io::Read;
use std::os::fd::IntoRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

static WRITE_END: AtomicI32 = AtomicI32::new(-1);
static CAUGHT: AtomicBool = AtomicBool::new(false);
static PARKED: AtomicUsize = AtomicUsize::new(0);

/// The signal that parks the other threads.
fn park_signal() -> libc::c_int {
    libc::SIGRTMIN() + 2
}

extern "C" fn park(_: libc::c_int) {
    PARKED.fetch_add(1, Ordering::SeqCst);
    loop {
        // SAFETY: pause is async-signal-safe.
        unsafe { libc::pause() };
    }
}

/// Parks every thread of the process but this one; waits at most about a
/// second for them.
fn park_others() {
    // SAFETY: plain system calls.
    let (pid, me) = unsafe { (libc::getpid(), libc::gettid()) };
    let mut sent = std::collections::BTreeSet::new();
    for _ in 0..1000 {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        let mut new = false;
        for t in tasks.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if tid == me || sent.contains(&tid) {
                continue;
            }
            // SAFETY: sends the park signal to a thread of this process.
            if unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, park_signal()) } == 0 {
                sent.insert(tid);
                new = true;
            }
        }
        if !new && PARKED.load(Ordering::SeqCst) >= sent.len() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe calls here.
    if CAUGHT.swap(true, Ordering::SeqCst) {
        // The second: end now (delivered when the handler returns).
        // SAFETY: signal and raise are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    }
    let byte = sig as u8;
    // SAFETY: write is async-signal-safe; one byte from a live local.
    unsafe {
        libc::write(
            WRITE_END.load(Ordering::SeqCst),
            (&byte as *const u8).cast(),
            1,
        );
    }
}

/// Ends the process by `sig`, its default action.
fn end_by(sig: libc::c_int) -> ! {
    // SAFETY: restores the default action, unblocks the signal in this
    // thread and sends it to this thread: the process ends.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}

/// Installs the handlers (before any other thread exists). A signal
/// ignored when the process started (nohup, `&` in a script) stays
/// ignored.
pub fn install() {
    // Both ends are close-on-exec; the write end stays open for good.
    let Ok((mut read_end, write_end)) = UnixStream::pair() else {
        return;
    };
    WRITE_END.store(write_end.into_raw_fd(), Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut byte = [0u8];
            let n = read_end.read(&mut byte);
            if let Ok(1) = n {
                remove_all_and_hold(|| {
                    park_others();
                    // Test hook of the second-signal test, compiled only
                    // with `failpoints`: KMODTREE_TEST_CLEANUP_DELAY_MS=N
                    // waits N ms (every other thread parked) before the
                    // clean-up removes anything.
                    #[cfg(feature = "failpoints")]
                    if let Some(ms) = std::env::var("KMODTREE_TEST_CLEANUP_DELAY_MS")
                        .ok()
                        .and_then(|v| v.parse().ok())
                    {
                        std::thread::sleep(std::time::Duration::from_millis(ms));
                    }
                });
                end_by(libc::c_int::from(byte[0]));
            }
            if let Ok(0) = n {
                return;
            }
        });
    if spawned.is_err() {
        return;
    }
    // SAFETY: installs `park`, which only makes async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = park as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(park_signal(), &action, std::ptr::null_mut());
    }
    for sig in SIGNALS {
        // SAFETY: reads the current action, and installs ours where the
        // signal is not ignored; `on_signal` only makes
        // async-signal-safe calls.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                || old.sa_sigaction == libc::SIG_IGN
            {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}
